"""Builds lassonet_ext._C from source: the C++ CPU kernel always, the CUDA kernel when a CUDA build
of torch and nvcc are present or FORCE_CUDA=1.

torch must already be installed, and the build must see it:  pip install --no-build-isolation .
(an isolated build would compile against a different torch than the one you run; see README).
"""
import glob
import os
import sys

from setuptools import setup

try:
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
except ImportError:  # pragma: no cover - the message is the point
    sys.exit(
        "lassonet_ext builds against your installed torch. Install torch first, then run\n"
        "    pip install --no-build-isolation .\n"
        "(pip's default build isolation hides the installed torch from the build)."
    )

HERE = os.path.dirname(os.path.abspath(__file__))


def want_cuda():
    if os.environ.get("FORCE_CUDA", "0") == "1":
        return True, "FORCE_CUDA=1"
    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} is a CPU build"
    if CUDA_HOME is None:
        return False, "nvcc was not found (set CUDA_HOME)"
    return True, f"CUDA torch {torch.__version__} and CUDA_HOME={CUDA_HOME}"


def nvidia_wheel_includes():
    """Headers of the nvidia-* wheels that a CUDA torch depends on (cuSPARSE, cuBLAS, ...).

    ATen's CUDA headers include them, and a toolkit installed without those libraries lacks them.
    """
    dirs = []
    for entry in sys.path:
        dirs += glob.glob(os.path.join(entry, "nvidia", "*", "include"))
        dirs += glob.glob(os.path.join(entry, "nvidia", "*", "*", "include"))
    return sorted({d for d in dirs if os.path.isdir(d)})


def openmp_flags():
    """Compiler/linker flags that make at::parallel_for use threads in our kernels.

    ATen's OpenMP backend is inline header code guarded by _OPENMP: compiled without -fopenmp, an
    extension's at::parallel_for silently runs on one thread. The flag is added on Linux where torch
    itself uses OpenMP (GCC/Clang); at run time the extension shares the libgomp that torch has
    already loaded (same soname), so there is one thread pool, sized by torch.set_num_threads.
    """
    if "ATen parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return []
    if sys.platform.startswith("linux"):
        return ["-fopenmp"]
    return []  # macOS clang needs a separate libomp; Windows is not supported by this build


def extensions():
    build_cuda, why = want_cuda()
    print(f"lassonet_ext: building the {'CPU + CUDA' if build_cuda else 'CPU'} op ({why})")
    sources = ["csrc/ops.cpp", "csrc/python_module.cpp"] + sorted(glob.glob("csrc/cpu/*.cpp"))
    # py_limited_api=True: one wheel for every CPython >= 3.9 (cpp_extension sets Py_LIMITED_API).
    # No FP traps or errno: lets the compiler if-convert and vectorise the branch-free passes. No
    # FMA contraction: the AVX-512 copy of the chunk solver gives the baseline's bits.
    openmp = openmp_flags()
    cxx = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"] + openmp
    if build_cuda:
        sources += sorted(glob.glob("csrc/cuda/*.cu"))
        return [
            CUDAExtension(
                "lassonet_ext._C",
                sources,
                define_macros=[("LASSONET_WITH_CUDA", "1")],
                include_dirs=[os.path.join(HERE, "csrc")] + nvidia_wheel_includes(),
                extra_compile_args={"cxx": cxx, "nvcc": ["-O3", "-lineinfo"]},
                extra_link_args=openmp,
                py_limited_api=True,
            )
        ]
    return [
        CppExtension(
            "lassonet_ext._C",
            sources,
            include_dirs=[os.path.join(HERE, "csrc")],
            extra_compile_args={"cxx": cxx},
            extra_link_args=openmp,
            py_limited_api=True,
        )
    ]


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExtension},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
