import pytest
import torch

import lassonet_ext


def pytest_report_header(config):
    return (
        f"torch {torch.__version__}, lassonet_ext native op: {lassonet_ext.HAS_NATIVE}, "
        f"CUDA available: {torch.cuda.is_available()}"
    )


DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine"),
    ),
]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param
