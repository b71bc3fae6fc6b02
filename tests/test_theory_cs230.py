"""Checks of every number and code completion in the CS230 midterm answers
(theory/sections/cs230.tex). Each test fails if the stated answer were wrong."""
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from theory.code import cs230

torch.set_num_threads(1)
CS230_TEX = Path(__file__).resolve().parents[1] / "theory" / "sections" / "cs230.tex"


# ------------------------------------------------------------------ Q1

def test_q1_logistic_regression_shapes():
    model = nn.Linear(300, 1)  # logistic regression = linear layer + sigmoid
    assert model.weight.numel() == 300 and model.bias.numel() == 1
    assert cs230.count_parameters(model) == 301
    x = torch.randn(300)
    y_hat = torch.sigmoid(model(x))
    assert y_hat.shape == (1,)  # one probability per example
    assert torch.allclose(y_hat, torch.sigmoid(model.weight[0] @ x + model.bias))


def test_q1d_mlp_parameter_count():
    model = cs230.startup_mlp()
    weights = sum(m.weight.numel() for m in model if isinstance(m, nn.Linear))
    biases = sum(m.bias.numel() for m in model if isinstance(m, nn.Linear))
    assert (weights, biases) == (24_080, 81)
    assert cs230.count_parameters(model) == 24_161
    # the count does not depend on the activation (Q1(f) uses the same layers)
    assert cs230.count_parameters(cs230.startup_mlp(hidden_activation=False)) == 24_161


def test_q1e_depth_saves_units():
    # a deep ReLU net with 2 units per layer has 2**depth linear pieces ...
    for depth in (1, 3, 6, 8):
        net = cs230.sawtooth_net(depth)
        assert cs230.count_linear_pieces(net) == 2 ** depth
        assert sum(m.out_features for m in net if isinstance(m, nn.Linear) and m.out_features == 2) == 2 * depth
    # ... while one hidden layer of m ReLU units has one kink per unit: m + 1 pieces in 1-D
    torch.manual_seed(0)
    for m in (5, 20, 63):
        shallow = nn.Sequential(nn.Linear(1, m), nn.ReLU(), nn.Linear(m, 1)).double()
        with torch.no_grad():  # m distinct kinks inside [0, 1], on the counting grid
            kinks = (torch.randperm(255)[:m] + 1).double() / 256
            shallow[0].bias.copy_(-shallow[0].weight[:, 0] * kinks)
        assert cs230.count_linear_pieces(shallow) == m + 1
    # so one hidden layer needs >= 2**8 - 1 = 255 units for the depth-8 sawtooth (16 units deep), and
    # 256 suffice: a unit per kink (0, 1/256, ..., 255/256) whose weight is the change of slope there
    deep = cs230.sawtooth_net(8)
    breakpoints = torch.arange(257, dtype=torch.float64)[:, None] / 256
    with torch.no_grad():
        values = deep(breakpoints).squeeze(1)
    slopes = torch.diff(values) * 256
    wide = nn.Sequential(nn.Linear(1, 256), nn.ReLU(), nn.Linear(256, 1)).double()
    with torch.no_grad():
        wide[0].weight.fill_(1.0)
        wide[0].bias.copy_(-breakpoints[:256, 0])
        wide[2].weight.copy_(torch.cat([slopes[:1], torch.diff(slopes)])[None, :])
        wide[2].bias.fill_(values[0].item())
        x = torch.linspace(0, 1, 4097, dtype=torch.float64)[:, None]
        torch.testing.assert_close(wide(x), deep(x))
    assert cs230.count_linear_pieces(wide) == 256


def test_q1f_collapses_to_logistic_regression():
    rng = np.random.default_rng(0)
    for _ in range(5):
        W1, b1 = rng.normal(size=(80, 300)), rng.normal(size=80)
        W2, b2 = rng.normal(size=(1, 80)), rng.normal(size=1)
        w_prime, b_prime = cs230.collapse_to_logistic(W1, b1, W2, b2)
        assert w_prime.shape == (1, 300) and b_prime.shape == (1,)
        X = rng.normal(size=(300, 50)) * 0.01  # 50 inputs as columns, small so sigmoid is not saturated
        net = 1 / (1 + np.exp(-(W2 @ (W1 @ X + b1[:, None]) + b2[:, None])))
        logistic = 1 / (1 + np.exp(-(w_prime @ X + b_prime[:, None])))
        np.testing.assert_allclose(net, logistic, rtol=1e-10, atol=1e-12)


def test_q1g_sigmoid_relu_at_least_half():
    z = torch.linspace(-50, 50, 10_001, requires_grad=True)
    y_hat = torch.sigmoid(torch.relu(z))
    assert y_hat.min().item() == 0.5  # every input is classified as 1
    # and for z < 0 no gradient reaches z: a negative example cannot fix it
    F.binary_cross_entropy(y_hat, torch.zeros_like(y_hat), reduction="sum").backward()
    assert torch.all(z.grad[z.detach() < 0] == 0)
    # a negative example stuck there has loss log 2
    assert F.binary_cross_entropy(y_hat[0], torch.tensor(0.0)).item() == pytest.approx(math.log(2), rel=1e-6)


# ------------------------------------------------------------------ Q2

def test_q2a_mse_gradient_vanishes_when_wrong():
    z = torch.tensor(6.0, requires_grad=True)  # logit of a confident "sweet" prediction on a y = 0 example
    ((torch.sigmoid(z) - 0) ** 2).backward()
    mse_grad = z.grad.item()
    z.grad = None
    F.binary_cross_entropy_with_logits(z, torch.tensor(0.0)).backward()
    bce_grad = z.grad.item()
    assert round(mse_grad, 4) == 0.0049 and round(bce_grad, 4) == 0.9975
    # at z = 30 the MSE is within 2e-13 of its bound 1, while the BCE is 30
    z30 = torch.tensor(30.0, dtype=torch.float64)
    mse_30 = (torch.sigmoid(z30) - 0) ** 2
    assert f"{1 - mse_30.item():.0e}" == "2e-13"
    assert round(F.binary_cross_entropy_with_logits(z30, torch.tensor(0.0, dtype=torch.float64)).item(), 1) == 30.0


def test_q2c_bce_single_example():
    value = cs230.bce([0], [0.9])
    assert value == pytest.approx(-math.log(0.1)) and value == pytest.approx(2.302585, abs=1e-6)
    assert value == pytest.approx(F.binary_cross_entropy(torch.tensor([0.9]), torch.tensor([0.0])).item(), rel=1e-6)


def test_q2d_bce_three_examples():
    y, y_hat = [1, 0, 0], [0.1, 0.2, 0.7]
    J = cs230.bce(y, y_hat)
    assert J == pytest.approx(-(math.log(0.1) + math.log(0.8) + math.log(0.3)) / 3)
    assert J == pytest.approx(1.243234, abs=1e-6)
    assert J == pytest.approx(F.binary_cross_entropy(torch.tensor(y_hat), torch.tensor(y, dtype=torch.float)).item(),
                              rel=1e-6)


def test_q2e_l2_update_matches_autograd():
    torch.manual_seed(0)
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 2, (8,)).double()
    W = torch.randn(3, dtype=torch.float64, requires_grad=True)
    lr, lam = 0.1, 0.05
    j_bce = F.binary_cross_entropy_with_logits(x @ W, y)
    (grad_bce,) = torch.autograd.grad(j_bce, W)
    (grad_total,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(x @ W, y) + lam * (W ** 2).sum(), W)
    expected = (W - lr * grad_total).detach()
    ours = cs230.l2_gd_step(W.detach(), grad_bce, lr, lam)
    torch.testing.assert_close(ours, expected)
    # torch's weight_decay is the same thing with weight_decay = 2 * lam
    W_sgd = W.detach().clone().requires_grad_(True)
    opt = torch.optim.SGD([W_sgd], lr=lr, weight_decay=2 * lam)
    F.binary_cross_entropy_with_logits(x @ W_sgd, y).backward()
    opt.step()
    torch.testing.assert_close(W_sgd.detach(), expected)


def _fit_logistic(X, y, lam):
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(X @ w, y) + lam * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def test_q2e_l2_gives_smaller_weights():
    torch.manual_seed(1)
    X = torch.randn(200, 10, dtype=torch.float64)
    y = ((X @ torch.randn(10, dtype=torch.float64) + torch.randn(200, dtype=torch.float64)) > 0).double()  # noisy labels
    norm_b = _fit_logistic(X, y, 0.0).norm()
    norms_a = [_fit_logistic(X, y, lam).norm() for lam in (0.001, 0.01, 0.1)]
    assert all(n < norm_b for n in norms_a)
    assert norms_a[0] > norms_a[1] > norms_a[2]


def test_q2e_l1_zeros_l2_shrinks():
    w = np.arange(-300_000, 300_001) * 1e-5  # grid step 1e-5, contains 0 exactly
    lam = 1.0
    for a in (-0.9, -0.3, 0.2, 0.7, 1.5, 2.5):
        w_l1 = w[np.argmin(0.5 * (w - a) ** 2 + lam * np.abs(w))]
        w_l2 = w[np.argmin(0.5 * (w - a) ** 2 + lam * w ** 2)]
        expected_l1 = np.sign(a) * max(abs(a) - lam, 0.0)  # soft threshold
        assert w_l1 == pytest.approx(expected_l1, abs=2e-5)
        assert w_l2 == pytest.approx(a / (1 + 2 * lam), abs=2e-5) and w_l2 != 0
        if abs(a) < lam:
            assert w_l1 == 0.0


def test_q2g_multitask_loss():
    torch.manual_seed(0)
    y = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 12.0], [0.0, 7.5]])
    has_sweet = torch.tensor([True, True, False, False])   # sweetness dataset
    has_weight = torch.tensor([False, False, True, True])  # supermarket dataset
    y_hat = torch.tensor([[0.8, 3.0], [0.3, 9.0], [0.5, 11.0], [0.6, 8.0]], requires_grad=True)
    loss = cs230.multitask_loss(y, y_hat, has_sweet, has_weight, lam=0.1)
    expected = (-math.log(0.8) - math.log(0.7) + 0.1 * (1.0 + 0.25)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # a missing label contributes no gradient
    assert y_hat.grad[0, 1] == 0 and y_hat.grad[1, 1] == 0 and y_hat.grad[2, 0] == 0 and y_hat.grad[3, 0] == 0


# ------------------------------------------------------------------ Q3

def test_q3a_shuffle_keeps_batch_gradient():
    torch.manual_seed(0)
    X = torch.randn(500, 20, dtype=torch.float64)
    y = torch.arange(500) // 10  # sorted by class, like the instrument clips
    model = nn.Linear(20, 50).double()

    def full_gradient(order):
        model.zero_grad()
        F.cross_entropy(model(X[order]), y[order]).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    g_sorted = full_gradient(torch.arange(500))
    g_shuffled = full_gradient(torch.randperm(500))
    torch.testing.assert_close(g_sorted, g_shuffled, rtol=1e-12, atol=1e-14)


def test_q3b_minibatch_variance_one_over_b():
    torch.manual_seed(0)
    per_example = torch.randn(10_000, 5, dtype=torch.float64) * 3 + 1  # stand-in per-example gradients
    variances = {}
    for batch in (1, 16, 64):
        idx = torch.randint(0, 10_000, (4000, batch))
        variances[batch] = per_example[idx].mean(1).var(0).mean().item()
    assert variances[16] == pytest.approx(variances[1] / 16, rel=0.15)
    assert variances[64] == pytest.approx(variances[1] / 64, rel=0.15)


def _loss_curve(batch, steps=300, lr=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(1000, 10, generator=g, dtype=torch.float64)
    y = ((X @ torch.randn(10, generator=g, dtype=torch.float64)) + torch.randn(1000, generator=g, dtype=torch.float64) > 0).double()
    w = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    curve = []
    for _ in range(steps):
        idx = torch.randint(0, 1000, (batch,), generator=g) if batch < 1000 else torch.arange(1000)
        (grad,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(X[idx] @ w, y[idx]), w)
        with torch.no_grad():
            w -= lr * grad
            curve.append(F.binary_cross_entropy_with_logits(X @ w, y).item())  # full training loss
    return np.array(curve)


def test_q3d_curve_noise_bgd_mbgd_sgd():
    def total_rise(curve):  # sum of all increases: 0 for a monotone curve
        return np.clip(np.diff(curve), 0, None).sum()

    bgd, mbgd, sgd = (total_rise(_loss_curve(b)) for b in (1000, 32, 1))
    assert bgd == 0 < mbgd < sgd


def test_q3d_sketch_stays_positive_and_inside_axes():
    """The TikZ sketch of the three loss curves: every curve stays above the
    'iteration' axis (a loss is >= 0) and below the top of the axes, where the
    panel letter sits. Evaluates the plot expression as cs230.tex writes it."""
    tex = CS230_TEX.read_text()
    panels = re.search(r"\\foreach \\name/\\amp/\\off in \{([^}]*)\}", tex).group(1)
    amplitudes = {name: float(amp) for name, amp, _ in (p.strip().split("/") for p in panels.split(","))}
    plot = re.search(r"plot\[domain=([\d.]+):([\d.]+),samples=(\d+)\]\s*\(\\off\+\\x,\{(.*)\}\);", tex)
    lo, hi, samples, formula = float(plot.group(1)), float(plot.group(2)), int(plot.group(3)), plot.group(4)
    axes_top = float(re.search(r"\\draw\[->\] \(\\off,0\) -- \(\\off,([\d.]+)\);", tex).group(1))
    python = (formula.replace("\\x", "x").replace("\\amp", "amp").replace("exp(", "np.exp(")
              .replace("sin(", "np.sin(np.pi/180*"))  # TikZ's sin takes degrees
    x = np.linspace(lo, hi, samples)  # the points TikZ joins with straight lines
    assert set(amplitudes) == {"A", "B", "C"} and amplitudes["A"] == 0 < amplitudes["B"] < amplitudes["C"]
    for name, amp in amplitudes.items():
        y = eval(python, {"np": np, "x": x, "amp": amp})  # noqa: S307 - our own formula
        assert y.min() > 0.2, f"curve {name} comes down to {y.min():.2f}"
        assert y.max() < axes_top - 0.2, f"curve {name} reaches {y.max():.2f}"


def test_q3e_learning_rate_signs():
    h = 4.0  # f(w) = h w^2 / 2; GD: w <- (1 - lr h) w, stable iff lr < 2 / h
    def run(lr, steps=50):
        w = 1.0
        for _ in range(steps):
            w -= lr * h * w
        return 0.5 * h * w ** 2
    assert f"{run(2.2 / h):.1e}" == "1.7e+08"  # too large: the loss blows up, 2 * 1.2**100
    assert round(run(0.002 / h), 2) == 1.64    # too small: after 50 steps still close to f(1) = 2
    assert run(1.0 / h) == 0.0                 # a good rate: here one step lands on the minimum


def test_q3f_momentum_update_matches_torch_sgd():
    torch.manual_seed(0)
    lr, beta = 0.1, 0.9
    W_torch = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    W, V = W_torch.detach().numpy().copy(), np.zeros((4, 3))
    # torch keeps buf = beta buf + grad; our V = (1 - beta) buf, so torch needs lr (1 - beta)
    opt = torch.optim.SGD([W_torch], lr=lr * (1 - beta), momentum=beta)
    target = torch.randn(4, 3, dtype=torch.float64)
    for _ in range(10):
        opt.zero_grad()
        ((W_torch - target) ** 2).sum().backward()
        grad = W_torch.grad.numpy().copy()
        opt.step()
        W, V = cs230.momentum_step(W, V, grad, lr, beta)
        np.testing.assert_allclose(W, W_torch.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_q3f_momentum_beats_gd_on_a_ravine():
    curvatures = np.array([1.0, 100.0])  # f(w) = sum(c w^2) / 2, condition number 100

    def steps_to_converge(lr, beta, max_steps=3000):
        w, v = np.array([1.0, 1.0]), np.zeros(2)
        for t in range(max_steps):
            loss = 0.5 * np.sum(curvatures * w ** 2)
            if loss < 1e-8:
                return t
            if loss > 1e6:  # this learning rate diverges
                return max_steps
            w, v = cs230.momentum_step(w, v, curvatures * w, lr, beta)
        return max_steps

    lrs = np.geomspace(1e-3, 0.5, 60)
    best_gd = min(steps_to_converge(lr, 0.0) for lr in lrs)
    best_momentum = min(steps_to_converge(lr, beta) for lr in lrs for beta in (0.5, 0.7, 0.9))
    assert (best_momentum, best_gd) == (58, 460)


def _adam_against_torch(step_fn, grad_scale, n_steps=10):
    torch.manual_seed(0)
    W_torch = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    b_torch = torch.randn(4, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([W_torch, b_torch])  # defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8
    weights = {"W": W_torch.detach().numpy().copy(), "b": b_torch.detach().numpy().copy()}
    cache = {"vW": 0, "sW": 0, "vb": 0, "sb": 0}
    x = torch.randn(16, 5, dtype=torch.float64)
    worst = 0.0
    for step in range(1, n_steps + 1):  # Adam's step counter starts at 1
        opt.zero_grad()
        (grad_scale * ((x @ W_torch + b_torch) ** 2).mean()).backward()
        grads = {"W": W_torch.grad.numpy().copy(), "b": b_torch.grad.numpy().copy()}
        before = {k: v.copy() for k, v in weights.items()}
        opt.step()
        step_fn(weights, grads, cache, step)
        for name, p in (("W", W_torch), ("b", b_torch)):
            torch_delta = p.detach().numpy() - before[name]
            ours_delta = weights[name] - before[name]
            worst = max(worst, np.max(np.abs(ours_delta - torch_delta)) / np.max(np.abs(torch_delta)))
            weights[name] = p.detach().numpy().copy()  # keep both on the same trajectory
    return worst


def test_q3g_adam_matches_torch():
    # epsilon outside the root (paper, torch): same steps to rounding error
    assert _adam_against_torch(cs230.optim_adam_paper, 1.0) < 1e-9
    # the exam's formula (epsilon inside the root): same steps while |grad| >> 1e-4 ...
    assert _adam_against_torch(cs230.optim_adam, 1.0) < 1e-4
    # ... but visibly smaller steps when gradients are ~1e-5 (sqrt(1e-8) = 1e-4 dominates)
    assert _adam_against_torch(cs230.optim_adam, 1e-6) > 0.5
    assert _adam_against_torch(cs230.optim_adam_paper, 1e-6) < 1e-6


def test_q3g_adam_first_step_is_lr():
    # with bias correction the first step is lr * sign(grad) (up to eps), whatever the gradient's scale
    weights, cache = {"W": np.zeros(3)}, {"vW": 0, "sW": 0}
    cs230.optim_adam_paper(weights, {"W": np.array([5.0, -0.01, 300.0])}, cache, step=1)
    np.testing.assert_allclose(weights["W"], [-1e-3, 1e-3, -1e-3], rtol=1e-5)


# ------------------------------------------------------------------ Q4

def _bn_module(n_features, momentum=0.1, seed=0):
    torch.manual_seed(seed)
    bn = nn.BatchNorm1d(n_features, eps=1e-5, momentum=momentum).double()
    with torch.no_grad():
        bn.weight.copy_(torch.randn(n_features))
        bn.bias.copy_(torch.randn(n_features))
    return bn


def test_q4b_bn_train_matches_torch():
    bn = _bn_module(6)
    gamma, beta = bn.weight.detach().numpy(), bn.bias.detach().numpy()
    cache = {"mu": np.zeros(6), "var": np.ones(6)}  # torch's initial running stats
    m = 32
    for step in range(5):
        Z = torch.randn(m, 6, dtype=torch.float64) * 3 + 2
        ours = cs230.forward_batchnorm(Z.numpy(), gamma, beta, 1e-5, cache, beta_avg=0.9, mode="train")
        theirs = bn.train()(Z).detach().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
        # beta_avg = 1 - torch's momentum: the running mean agrees
        np.testing.assert_allclose(cache["mu"], bn.running_mean.numpy(), rtol=1e-12)


def test_q4b_running_var_bessel():
    bn = _bn_module(4)
    cache = {"mu": np.zeros(4), "var": np.ones(4)}
    unbiased = np.ones(4)
    m = 8
    for _ in range(5):
        Z = torch.randn(m, 4, dtype=torch.float64)
        cs230.forward_batchnorm(Z.numpy(), np.ones(4), np.zeros(4), 1e-5, cache, 0.9, "train")
        bn.train()(Z)
        unbiased = 0.9 * unbiased + 0.1 * np.var(Z.numpy(), axis=0, ddof=1)
    # torch averages the unbiased variance (divide by m - 1), the exam's code the biased one
    np.testing.assert_allclose(bn.running_var.numpy(), unbiased, rtol=1e-12)
    assert np.all(cache["var"] < bn.running_var.numpy())
    # larger by exactly m / (m - 1), apart from what is left of the common start value 1 (0.9^5 of it)
    np.testing.assert_allclose(bn.running_var.numpy() - 0.9 ** 5, m / (m - 1) * (cache["var"] - 0.9 ** 5), rtol=1e-12)


def test_q4b_bn_test_matches_torch_eval():
    bn = _bn_module(6)
    for _ in range(3):
        bn.train()(torch.randn(16, 6, dtype=torch.float64))
    cache = {"mu": bn.running_mean.numpy().copy(), "var": bn.running_var.numpy().copy()}
    Z = torch.randn(5, 6, dtype=torch.float64)
    ours = cs230.forward_batchnorm(Z.numpy(), bn.weight.detach().numpy(), bn.bias.detach().numpy(), 1e-5,
                                   cache, 0.9, "test")
    np.testing.assert_allclose(ours, bn.eval()(Z).detach().numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="mode"):
        cs230.forward_batchnorm(Z.numpy(), 1, 0, 1e-5, cache, 0.9, "eval")


def test_q4a_bn_scale_invariance():
    torch.manual_seed(0)
    x = torch.randn(64, 10, dtype=torch.float64)
    W = torch.randn(10, 20, dtype=torch.float64, requires_grad=True)
    bn = nn.BatchNorm1d(20, eps=1e-12).double()  # a tiny eps, so that only the scale argument is tested

    def out(scale):
        return bn.train()(x @ (scale * W))

    torch.testing.assert_close(out(1.0), out(1e-3), rtol=1e-6, atol=1e-6)  # (ii): later layer sees the same input
    # (iv): weights near zero do not help: the gradient grows as 1/scale
    grads = []
    for scale in (1.0, 1e-3):
        V = (scale * W).detach().requires_grad_(True)
        (bn.train()(x @ V) ** 3).sum().backward()
        grads.append(V.grad.norm().item())
    assert grads[1] / grads[0] == pytest.approx(1e3, rel=1e-3)


def test_q4a_bn_keeps_feature_shape():
    rng = np.random.default_rng(0)
    Z = np.column_stack([rng.exponential(5.0, 5000), rng.normal(100, 0.1, 5000), rng.uniform(-1, 1, 5000)])
    out = cs230.forward_batchnorm(Z, 1.0, 0.0, 1e-8, {"mu": 0, "var": 1}, 0.9, "train")
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(out.var(0), 1, atol=1e-6)  # same scale in every dimension
    skew = lambda a: np.mean((a - a.mean(0)) ** 3, 0) / a.std(0) ** 3  # noqa: E731
    np.testing.assert_allclose(skew(out), skew(Z), rtol=1e-6)  # the exponential stays skewed: not made uniform


def test_q4c_epsilon_avoids_zero_division():
    Z = np.column_stack([np.full(8, 3.0), np.arange(8.0)])  # first feature constant: variance 0
    cache = {"mu": np.zeros(2), "var": np.ones(2)}
    with np.errstate(invalid="ignore", divide="ignore"):
        without = cs230.forward_batchnorm(Z, 1.0, 0.5, 0.0, dict(cache), 0.9, "train")
    assert np.isnan(without[:, 0]).all()  # 0 / 0
    with_eps = cs230.forward_batchnorm(Z, 1.0, 0.5, 1e-5, dict(cache), 0.9, "train")
    np.testing.assert_allclose(with_eps[:, 0], 0.5)  # finite: the feature maps to beta


def test_q4d_batch_of_one():
    rng = np.random.default_rng(0)
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    outs = [cs230.forward_batchnorm(rng.normal(size=(1, 4)) * 10, gamma, beta, 1e-5,
                                    {"mu": np.zeros(4), "var": np.ones(4)}, 0.9, "train") for _ in range(5)]
    for out in outs:  # every input gives beta: the example's information is gone
        np.testing.assert_allclose(out[0], beta)
    # so no gradient flows to anything before the layer
    z = torch.randn(1, 4, dtype=torch.float64, requires_grad=True)
    normed = (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + 1e-5)
    (torch.tensor(gamma) * normed + torch.tensor(beta)).sum().backward()
    assert torch.all(z.grad == 0)
    # PyTorch refuses it in training mode ...
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(4).train()(torch.randn(1, 4))
    # ... but accepts it at test time, and for conv features (statistics over H x W too)
    assert nn.BatchNorm1d(4).eval()(torch.randn(1, 4)).shape == (1, 4)
    assert nn.BatchNorm2d(4).train()(torch.randn(1, 4, 5, 5)).shape == (1, 4, 5, 5)


def test_q4e_dense_bn_parameter_count():
    assert cs230.count_parameters(cs230.dense_bn_layer()) == 240
    assert cs230.count_parameters(cs230.dense_bn_layer(bias=True)) == 260
    # the running mean/var are buffers, not trained
    assert sum(b.numel() for b in cs230.dense_bn_layer().buffers() if b.dtype.is_floating_point) == 40
    # the dense bias is redundant: BN's mean subtraction removes it
    torch.manual_seed(0)
    layer = cs230.dense_bn_layer(bias=True).double().train()
    x = torch.randn(32, 10, dtype=torch.float64)
    before = layer(x)
    with torch.no_grad():
        layer[0].bias.add_(torch.randn(20, dtype=torch.float64) * 5)
    torch.testing.assert_close(layer(x), before)


# ------------------------------------------------------------------ Q5

def multinomial(*counts):
    """Ways to split sum(counts) labelled items into groups of these sizes."""
    ways, left = 1, sum(counts)
    for c in counts:
        ways *= math.comb(left, c)
        left -= c
    return ways


def test_q5a_duplicate_then_split_leaks():
    n, n_pos = 500, 175
    total = n + n_pos                                       # 675 after duplicating every positive
    n_train, n_val, n_test = 405, 135, 135                  # 60/20/20, as duplicate_then_split cuts it
    train_ids, test_ids = cs230.duplicate_then_split(n, n_pos, seed=0)
    assert (len(train_ids), total - len(train_ids) - len(test_ids), len(test_ids)) == (n_train, n_val, n_test)
    # exact, by counting splits: one copy in test and its twin in train, among splits with that copy in test
    copy_in_test = Fraction(multinomial(n_train, n_val, n_test - 1), multinomial(n_train, n_val, n_test))
    copy_in_test_twin_in_train = Fraction(multinomial(n_train - 1, n_val, n_test - 1),
                                          multinomial(n_train, n_val, n_test))
    leak_probability = copy_in_test_twin_in_train / copy_in_test
    assert leak_probability == Fraction(405, 674) and round(float(leak_probability), 3) == 0.601
    # the number of positives in the test set is hypergeometric: 135 draws from 675 with 350 positive copies
    expected_test_positives = sum(Fraction(k * math.comb(2 * n_pos, k) * math.comb(total - 2 * n_pos, n_test - k),
                                           math.comb(total, n_test)) for k in range(n_test + 1))
    assert expected_test_positives == 70 and expected_test_positives / n_test == Fraction(350, 675)
    expected_leaked = 2 * n_pos * copy_in_test_twin_in_train
    assert expected_leaked == Fraction(14175, 337) == 70 * Fraction(405, 674)
    assert round(float(expected_leaked), 2) == 42.06
    # Monte Carlo over the real split function agrees
    leaked = test_positives = 0
    test_sizes = 0
    for seed in range(3000):
        train_ids, test_ids = cs230.duplicate_then_split(n, n_pos, seed=seed)
        test_pos = test_ids[test_ids < n_pos]
        leaked += np.isin(test_pos, train_ids).sum()
        test_positives += len(test_pos)
        test_sizes += len(test_ids)
    assert leaked / test_positives == pytest.approx(405 / 674, abs=0.005)
    assert round(test_positives / test_sizes, 2) == 0.52    # test set 52% positive, reality 35%


def test_q5b_always_positive_recall():
    y = np.r_[np.ones(175), np.zeros(325)]
    y_pred = np.ones(500)
    tp = np.sum((y_pred == 1) & (y == 1))
    recall, precision = tp / np.sum(y == 1), tp / np.sum(y_pred == 1)
    assert recall == 1.0 and precision == pytest.approx(0.35)


# ------------------------------------------------------------------ Q6

def test_q6b_fgsm_example():
    x_adv = cs230.fgsm(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, -0.5, 1.0]), 0.01)
    torch.testing.assert_close(x_adv, torch.tensor([1.01, 1.99, 3.01]))


def test_q6c_epsilon_shrinks_with_dimension():
    rng = np.random.default_rng(0)
    needed = {}
    for n in (10, 100, 1000, 10_000):
        w, x = rng.normal(size=n), rng.normal(size=n)
        eps = 0.01
        # FGSM on a linear score moves it by exactly eps * ||w||_1
        assert w @ (x + eps * np.sign(w)) == pytest.approx(w @ x + eps * np.abs(w).sum())
        needed[n] = 5.0 / np.abs(w).sum()  # eps that moves the logit by 5
    assert [f"{needed[n]:.2g}" for n in needed] == ["0.82", "0.061", "0.0064", "0.00063"]
    assert [round(n * needed[n], 1) for n in needed] == [8.2, 6.1, 6.4, 6.3]  # n * eps settles: eps ~ 1 / n
    assert round(5 * math.sqrt(math.pi / 2), 2) == 6.27  # 5 / E|w_i| for standard normal weights


def test_q6a_fgsm_transfers_despite_dropout():
    g = torch.Generator().manual_seed(0)
    d, mu = 50, 0.3
    y = torch.randint(0, 2, (4000,), generator=g).float()
    X = torch.randn(4000, d, generator=g) + mu * (2 * y[:, None] - 1)
    torch.manual_seed(0)

    def train(Xs, ys):
        net = nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 1))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(150):
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(net(Xs).squeeze(1), ys).backward()
            opt.step()
        return net.eval()  # dropout is switched off once deployed

    net_a, net_b = train(X[:1500], y[:1500]), train(X[1500:3000], y[1500:3000])  # disjoint data
    X_test, y_test = X[3000:].clone().requires_grad_(True), y[3000:]
    F.binary_cross_entropy_with_logits(net_a(X_test).squeeze(1), y_test).backward()
    X_adv = cs230.fgsm(X_test.detach(), X_test.grad, 0.5)  # half the per-coordinate noise level
    X_random = X_test.detach() + 0.5 * torch.sign(torch.randn(X_test.shape, generator=g))  # same size, random signs

    def accuracy(net, Xs):
        with torch.no_grad():
            return ((net(Xs).squeeze(1) > 0).float() == y_test).float().mean().item()

    assert accuracy(net_a, X_test.detach()) > 0.9 and accuracy(net_b, X_test.detach()) > 0.9
    assert accuracy(net_a, X_adv) < 0.45  # white-box: worse than a coin
    assert accuracy(net_b, X_adv) < 0.45  # crafted on A, fools B just as well
    assert accuracy(net_b, X_random) > 0.9  # a random perturbation of the same size does not


def test_q6d_saturating_cost_gradient():
    a = torch.tensor(-5.0, requires_grad=True)  # D's logit on a fake: D(G(z)) = 0.0067, easily spotted
    torch.log(1 - torch.sigmoid(a)).backward()  # saturating: G minimises log(1 - D)
    saturating = a.grad.abs().item()
    a.grad = None
    (-torch.log(torch.sigmoid(a))).backward()  # non-saturating: G minimises -log D
    non_saturating = a.grad.abs().item()
    assert saturating == pytest.approx(torch.sigmoid(torch.tensor(-5.0)).item()) and round(saturating, 4) == 0.0067
    assert round(non_saturating, 4) == 0.9933


def test_q6e_losses_when_d_guesses():
    # D(x) = 1/2 everywhere gives the same losses whatever G produces
    half = torch.tensor(0.5)
    d_loss = -(torch.log(half) + torch.log(1 - half))
    g_loss = -torch.log(half)
    assert d_loss.item() == pytest.approx(math.log(4)) and g_loss.item() == pytest.approx(math.log(2))


# ------------------------------------------------------------------ Q7

def test_q7a_one_by_one_conv():
    torch.manual_seed(0)
    conv = nn.Conv2d(256, 64, kernel_size=1).double()
    x = torch.randn(2, 256, 7, 9, dtype=torch.float64)
    out = conv(x)
    assert out.shape == (2, 64, 7, 9)  # channels 256 -> 64, spatial size kept
    per_pixel = torch.einsum("oc,bchw->bohw", conv.weight[:, :, 0, 0], x) + conv.bias[None, :, None, None]
    torch.testing.assert_close(out, per_pixel)


def test_q7b_same_padding():
    for f in (1, 3, 5, 7):
        for n in (8, 15, 32):
            conv = nn.Conv2d(1, 1, f, stride=1, padding=cs230.same_padding(f))
            assert conv(torch.zeros(1, 1, n, n)).shape[-2:] == (n, n)
    with pytest.raises(ValueError, match="even"):
        cs230.same_padding(4)


def test_q7c_to_f_conv_shapes_and_counts():
    layers = cs230.conv_layers()
    assert layers["conv2d"](torch.zeros(1, 3, 32, 32)).shape == (1, 2, 28, 28)
    # reading "zero padding" as "pad with zeros to keep the size" instead
    assert nn.Conv2d(3, 2, 5, padding=2)(torch.zeros(1, 3, 32, 32)).shape == (1, 2, 32, 32)
    assert cs230.count_parameters(layers["conv2d"]) == 152
    assert cs230.count_parameters(layers["conv1d"]) == 32
    assert cs230.count_parameters(layers["conv3d"]) == 752
    assert layers["conv1d"](torch.zeros(1, 3, 100)).shape == (1, 2, 96)  # T - 4
    assert layers["conv3d"](torch.zeros(1, 3, 10, 32, 32)).shape == (1, 2, 6, 28, 28)
    # padding does not change the count
    assert cs230.count_parameters(nn.Conv2d(3, 2, 5, padding=2)) == 152
