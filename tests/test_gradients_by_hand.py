"""The trainer's autograd-free step: closed-form loss gradients and LassoNetModel.forward_backward
must give autograd's gradients, with and without an active set of features."""
import pytest
import torch

from lassonet_ext.losses import CrossEntropyLoss, MSELoss
from lassonet_ext.model import MERGED_FIRST_LAYER_MIN_FEATURES, LassoNetModel

F64 = dict(rtol=1e-10, atol=1e-12)


def autograd_value_and_grad(loss, out, y):
    out = out.detach().clone().requires_grad_(True)
    value = loss(out, y)
    value.backward()
    return value.detach(), out.grad


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_gradient_is_autograds(device, weighted):
    g = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(40, 5, generator=g, dtype=torch.float64)).to(device)
    y = torch.randint(0, 5, (40,), generator=g).to(device)
    weight = torch.rand(5, generator=g, dtype=torch.float64).to(device) + 0.1 if weighted else None
    loss = CrossEntropyLoss(weight)
    value, grad = loss.value_and_grad(logits.clone(), y)
    ref_value, ref_grad = autograd_value_and_grad(loss, logits, y)
    torch.testing.assert_close(value, ref_value, **F64)
    torch.testing.assert_close(grad, ref_grad, **F64)
    torch.testing.assert_close(ref_value, torch.nn.functional.cross_entropy(logits, y, weight=weight), **F64)


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_takes_logits_with_samples_along_columns(device, weighted):
    # The trainer's layout: (n, classes) logits that are the transpose of a contiguous tensor.
    g = torch.Generator().manual_seed(2)
    rows = (3 * torch.randn(40, 5, generator=g, dtype=torch.float64)).to(device)
    y = torch.randint(0, 5, (40,), generator=g).to(device)
    weight = torch.rand(5, generator=g, dtype=torch.float64).to(device) + 0.1 if weighted else None
    loss = CrossEntropyLoss(weight)
    columns = rows.t().contiguous().t()
    assert not columns.is_contiguous() and torch.equal(columns, rows)
    value, grad = loss.value_and_grad(columns, y)
    ref_value, ref_grad = autograd_value_and_grad(loss, rows, y)
    assert grad.t().is_contiguous()  # the gradient comes back in the logits' layout
    torch.testing.assert_close(value, ref_value, **F64)
    torch.testing.assert_close(grad, ref_grad, **F64)
    torch.testing.assert_close(loss(columns, y), torch.nn.functional.cross_entropy(rows, y, weight=weight), **F64)


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_gradient_follows_new_or_changed_labels(weighted):
    # The loss keeps its scaled one-hot targets for the next call with the same labels: another
    # label tensor, or the same one changed in place, must not get the old ones.
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y, y2 = torch.randint(0, 4, (2, 30), generator=g)
    weight = torch.rand(4, generator=g, dtype=torch.float64) + 0.1 if weighted else None
    loss = CrossEntropyLoss(weight)
    loss.value_and_grad(logits.clone(), y)
    for change in (lambda: y2, lambda: y2.copy_(y2.flip(0))):  # another tensor, then it changed in place
        labels = change()
        _, grad = loss.value_and_grad(logits.clone(), labels)
        _, ref_grad = autograd_value_and_grad(loss, logits, labels)
        torch.testing.assert_close(grad, ref_grad, **F64)
    _, grad32 = loss.value_and_grad(logits.float(), labels)  # the targets follow the dtype
    torch.testing.assert_close(grad32, ref_grad.float())


def test_cross_entropy_takes_class_weights_on_the_cpu_and_in_another_dtype(device):
    # A user's class weights may stay a float32 CPU tensor while the model trains in float64, on a
    # GPU too: every entry point must give what weights in the logits' device and dtype give.
    g = torch.Generator().manual_seed(7)
    logits = (3 * torch.randn(30, 4, generator=g, dtype=torch.float64)).to(device)
    y, y_val = (t.to(device) for t in torch.randint(0, 4, (2, 30), generator=g))
    weight = torch.rand(4, generator=g) + 0.1  # float32, CPU
    given, matched = CrossEntropyLoss(weight), CrossEntropyLoss(weight.to(device, torch.float64))
    torch.testing.assert_close(given(logits, y), matched(logits, y), **F64)
    for a, b in zip(given.value_and_grad(logits.clone(), y), matched.value_and_grad(logits.clone(), y)):
        torch.testing.assert_close(a, b, **F64)
    both = torch.cat([logits, logits.flip(0)]).t().contiguous()  # the joint pass's (classes, n + n_val)
    for a, b in zip(given.split_value_and_grad(both, 30, y, y_val), matched.split_value_and_grad(both, 30, y, y_val)):
        torch.testing.assert_close(a, b, **F64)


def test_mse_gradient_is_autograds(device):
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(30, 3, generator=g, dtype=torch.float64).to(device)
    y = torch.randn(30, 3, generator=g, dtype=torch.float64).to(device)
    value, grad = MSELoss().value_and_grad(pred.clone(), y)
    ref_value, ref_grad = autograd_value_and_grad(MSELoss(), pred, y)
    torch.testing.assert_close(value, ref_value, **F64)
    torch.testing.assert_close(grad, ref_grad, **F64)


def test_mse_rejects_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match="shape"):
        MSELoss().value_and_grad(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        MSELoss().split_value_and_grad(torch.zeros(1, 6), 4, torch.zeros(4), torch.zeros(2, 1))


@pytest.mark.parametrize("loss_name", ["cross_entropy", "weighted_cross_entropy", "mse"])
def test_split_value_and_grad_is_the_validation_loss_and_the_training_gradient(device, loss_name):
    # The trainer's joint pass: one (outputs, n + n_val) block, training columns first; the
    # validation columns' loss and the training columns' gradient, as autograd gives them.
    g = torch.Generator().manual_seed(3)
    n, n_val, m = 50, 17, 4
    out = (3 * torch.randn(m, n + n_val, generator=g, dtype=torch.float64)).to(device)
    if loss_name == "mse":
        loss = MSELoss()
        y, y_val = (torch.randn(n + n_val, m, generator=g, dtype=torch.float64).to(device).split([n, n_val]))
    else:
        weight = torch.rand(m, generator=g, dtype=torch.float64) + 0.1 if loss_name.startswith("weighted") else None
        loss = CrossEntropyLoss(None if weight is None else weight.to(device))
        y, y_val = torch.randint(0, m, (n + n_val,), generator=g).to(device).split([n, n_val])
    before = out.clone()
    value, grad = loss.split_value_and_grad(out, n, y, y_val)
    assert torch.equal(out, before)  # the trainer reuses the forward pass's outputs
    ref_value, _ = autograd_value_and_grad(loss, out[:, n:].t(), y_val)
    _, ref_grad = autograd_value_and_grad(loss, out[:, :n].t(), y)
    assert grad.shape == (m, n)  # samples along columns, like out
    torch.testing.assert_close(value, ref_value, **F64)
    torch.testing.assert_close(grad, ref_grad.t(), **F64)


def grads_by_autograd(model, x, y, loss):
    model.zero_grad(set_to_none=True)
    value = loss(model(x), y)
    value.backward()
    return value.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


def grads_by_hand(model, x, y, loss, features=None):
    model.zero_grad(set_to_none=True)
    value = model.forward_backward(x if features is None else x[:, features], y, loss, features)
    return value, {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("d", [7, MERGED_FIRST_LAYER_MIN_FEATURES + 5])  # separate and merged first layer
@pytest.mark.parametrize("hidden_dims", [(), (6,), (6, 4)])
@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("with_active_set", [False, True])
def test_forward_backward_gives_autograds_gradients(device, d, hidden_dims, task, with_active_set):
    torch.manual_seed(d + len(hidden_dims))
    n_outputs = 3
    model = LassoNetModel(d, hidden_dims, n_outputs, M=2.0).double().to(device)
    x = torch.randn(50, d, dtype=torch.float64, device=device)
    if task == "regression":
        y, loss = torch.randn(50, n_outputs, dtype=torch.float64, device=device), MSELoss()
    else:
        y = torch.randint(0, n_outputs, (50,), device=device)
        loss = CrossEntropyLoss(torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64, device=device))
    features = None
    if with_active_set:  # the features outside the set are out of the model: zero weights
        keep = torch.zeros(d, dtype=torch.bool, device=device)
        keep[::2] = True
        with torch.no_grad():
            model.theta[:, ~keep] = 0
            model.W[:, ~keep] = 0
        features = keep.nonzero().squeeze(1)
    value, grads = grads_by_hand(model, x, y, loss, features)
    ref_value, ref_grads = grads_by_autograd(model, x, y, loss)
    torch.testing.assert_close(value, ref_value, **F64)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        expected = ref_grads[name]
        if features is not None and name in ("skip.weight", "layers.0.weight"):
            # features left out get no gradient (the active set); the others get autograd's
            out = torch.ones(d, dtype=torch.bool, device=device)
            out[features] = False
            assert torch.count_nonzero(grad[:, out]) == 0, name
            grad, expected = grad[:, features], expected[:, features]
        torch.testing.assert_close(grad, expected, **F64, msg=name)


def test_forward_on_an_active_set_is_the_full_forward(device):
    torch.manual_seed(3)
    for d in (9, MERGED_FIRST_LAYER_MIN_FEATURES + 1):
        model = LassoNetModel(d, (5,), 2).double().to(device)
        features = torch.tensor([0, 3, d - 1], device=device)
        with torch.no_grad():
            keep = torch.zeros(d, dtype=torch.bool, device=device)
            keep[features] = True
            model.theta[:, ~keep] = 0
            model.W[:, ~keep] = 0
        x = torch.randn(11, d, dtype=torch.float64, device=device)
        torch.testing.assert_close(model(x[:, features], features), model(x), **F64)


@pytest.mark.parametrize("hidden_dims", [(), (5,), (5, 4)])
def test_forward_columns_is_the_forward_transposed(device, hidden_dims):
    torch.manual_seed(4)
    for d in (9, MERGED_FIRST_LAYER_MIN_FEATURES + 1):
        model = LassoNetModel(d, hidden_dims, 3).double().to(device)
        x = torch.randn(11, d, dtype=torch.float64, device=device)
        out, hidden = model.forward_columns(x)
        assert out.shape == (3, 11) and out.is_contiguous() and len(hidden) == len(hidden_dims)
        torch.testing.assert_close(out, model(x).t(), **F64)


def test_forward_backward_refuses_dropout():
    model = LassoNetModel(4, (3,), 1, dropout=0.5)
    with pytest.raises(ValueError, match="dropout"):
        model.forward_backward(torch.randn(5, 4), torch.randn(5, 1), MSELoss())


def test_a_subclass_with_its_own_forward_trains_by_autograd():
    # The trainer's shortcuts (by-hand gradients, active set) assume LassoNetModel.forward; a
    # subclass that changes the function must be trained on the function it defines.
    from lassonet_ext.path import _Trainer

    class Doubled(LassoNetModel):
        def forward(self, x):
            return 2 * super().forward(x)

    torch.manual_seed(0)
    x, y = torch.randn(30, 5), torch.randn(30, 1)
    model = Doubled(5, (4,), 1)
    trainer = _Trainer(model, x, y, x, y, MSELoss(), None, 0.99, 0.0, 0.0, 0.0, None)
    assert not trainer.by_hand and not trainer.use_active_set
    trainer.step_gradients(x, y)
    got = {name: p.grad.clone() for name, p in model.named_parameters()}
    _, expected = grads_by_autograd(model, x, y, MSELoss())
    for name in got:
        torch.testing.assert_close(got[name], expected[name], msg=name)
    assert _Trainer(LassoNetModel(5, (4,), 1), x, y, x, y, MSELoss(), None, 0.99, 0.0, 0.0, 0.0, None).by_hand


@pytest.mark.parametrize("task", ["classification", "weighted_classification", "regression"])
def test_one_forward_pass_for_validation_and_gradient_gives_the_two_pass_fit(device, task):
    # The trainer's full-batch loop takes the validation objective and the next gradient from one
    # forward pass over both sets of rows (_Trainer.joint), and both from one call of the loss
    # (_Trainer.split), on CPU for cross-entropy from one native call down to the hidden layer
    # (_Trainer.tail); the plain loop makes two passes and two calls.
    from lassonet_ext.path import _Trainer

    g = torch.Generator().manual_seed(5)
    x, x_val = torch.randn(60, 9, generator=g, dtype=torch.float64), torch.randn(20, 9, generator=g, dtype=torch.float64)
    w = torch.randn(9, 3, generator=g, dtype=torch.float64)
    if task != "regression":
        weight = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64) if task.startswith("weighted") else None
        y, y_val, loss, outputs = (x @ w).argmax(1), (x_val @ w).argmax(1), CrossEntropyLoss(weight), 3
    else:
        y, y_val, loss, outputs = (x @ w).tanh(), (x_val @ w).tanh(), MSELoss(), 3
    x, x_val, y, y_val = (t.to(device) for t in (x, x_val, y, y_val))
    fits = []
    for joint, split, tail in ((True, True, True), (True, True, False), (True, False, False),
                               (False, False, False)):
        torch.manual_seed(6)
        model = LassoNetModel(9, (7,), outputs, M=2.0).double().to(device)
        trainer = _Trainer(model, x, y, x_val, y_val, loss, None, 0.99, 0.0, 0.0, 0.0, None)
        assert trainer.joint and trainer.split
        assert trainer.tail == (task != "regression" and device == "cpu")
        trainer.joint, trainer.split, trainer.tail = joint, split, trainer.tail and tail
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        epochs = trainer.fit_active(0.05, optimizer, 300, 10)
        fits.append((epochs, trainer.evaluate(0.05, x_val, y_val)[1], model.state_dict()))
    (e1, v1, s1) = fits[0]
    for e2, v2, s2 in fits[1:]:
        assert e1 == e2 and 10 < e1 < 300  # early stopping made the same decisions
        assert v1 == pytest.approx(v2, rel=1e-12)
        for k in s1:
            torch.testing.assert_close(s1[k], s2[k], **F64)
