"""LassoNetModel's forward pass: the merged first-layer product (wide inputs) computes the same
function and gradients as the two separate layers."""
import pytest
import torch

from lassonet_ext.model import MERGED_FIRST_LAYER_MIN_FEATURES, LassoNetModel


def separate_forward(model, x):
    out = model.skip(x)
    if model.head is None:
        return out
    h = x
    for layer in model.layers:
        h = torch.relu(layer(h))
    return out + model.head(h)


@pytest.mark.parametrize("d", [MERGED_FIRST_LAYER_MIN_FEATURES - 1, MERGED_FIRST_LAYER_MIN_FEATURES, 300])
@pytest.mark.parametrize("hidden_dims", [(), (16,), (16, 8)])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_forward_and_gradients_equal_the_separate_layers(d, hidden_dims, n_outputs):
    torch.manual_seed(d + len(hidden_dims))
    model = LassoNetModel(d, hidden_dims, n_outputs).double()
    x = torch.randn(25, d, dtype=torch.float64)
    target = torch.randn(25, n_outputs, dtype=torch.float64)

    def loss_and_grads(forward):
        model.zero_grad(set_to_none=True)
        out = forward(x)
        loss = ((out - target) ** 2).sum()
        loss.backward()
        return out.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}

    out, grads = loss_and_grads(model)
    out_ref, grads_ref = loss_and_grads(lambda v: separate_forward(model, v))
    torch.testing.assert_close(out, out_ref, rtol=1e-12, atol=1e-12)
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], grads_ref[name], rtol=1e-12, atol=1e-12, msg=name)


def test_merged_forward_keeps_batch_dimensions():
    model = LassoNetModel(200, (8,), 2)
    x = torch.randn(3, 4, 200)
    assert model(x).shape == (3, 4, 2)
    torch.testing.assert_close(model(x), separate_forward(model, x))


def test_l1_regularisation_is_the_sum_of_column_norms_with_and_without_autograd():
    torch.manual_seed(7)
    model = LassoNetModel(6, (4,), 3).double()
    with torch.no_grad():
        model.theta[:, 2] = 0  # a zero column: its subgradient is 0, not NaN
    want = torch.linalg.vector_norm(model.theta.detach(), dim=0).sum()
    with torch.no_grad():  # the trainer's path (squares and sums, no where())
        torch.testing.assert_close(model.l1_regularisation(), want, rtol=1e-14, atol=0)
    value = model.l1_regularisation()
    torch.testing.assert_close(value.detach(), want, rtol=1e-14, atol=0)
    value.backward()
    expected = model.theta.detach() / torch.linalg.vector_norm(model.theta.detach(), dim=0).clamp_min(1e-300)
    torch.testing.assert_close(model.skip.weight.grad, expected)
    assert torch.count_nonzero(model.skip.weight.grad[:, 2]) == 0
