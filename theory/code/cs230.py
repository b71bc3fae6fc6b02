"""Code behind the written answers to the Stanford CS230 Winter 2020 midterm.

Every function here is quoted, or used for a number, in theory/sections/cs230.tex;
tests/test_theory_cs230.py checks each one against PyTorch or against a
direct computation. NumPy for the exam's own code (the completions are NumPy),
torch modules wherever a parameter count is stated.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters (buffers such as BatchNorm's running stats excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ------------------------------------------------------------------ Q1

def startup_mlp(n_features: int = 300, n_hidden: int = 80, hidden_activation: bool = True) -> nn.Sequential:
    """Q1(d)/(f): one hidden layer of 80 units, one sigmoid output."""
    layers = [nn.Linear(n_features, n_hidden)]
    if hidden_activation:
        layers.append(nn.ReLU())
    layers += [nn.Linear(n_hidden, 1), nn.Sigmoid()]
    return nn.Sequential(*layers)


def collapse_to_logistic(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray):
    """Q1(f)(ii): without a hidden activation, sigma(W2 (W1 x + b1) + b2)
    is logistic regression with w' = W2 W1 (a 1 x n_x row) and b' = W2 b1 + b2."""
    return W2 @ W1, W2 @ b1 + b2


def sawtooth_net(depth: int) -> nn.Sequential:
    """Q1(e): `depth` layers of 2 ReLU units, each computing the tent map
    t(x) = 2 relu(x) - 4 relu(x - 1/2) on [0, 1]; composed `depth` times it has
    2**depth linear pieces (Telgarsky 2016)."""
    layers = []
    for _ in range(depth):
        hidden = nn.Linear(1, 2)
        out = nn.Linear(2, 1)
        with torch.no_grad():
            hidden.weight.copy_(torch.tensor([[1.0], [1.0]]))
            hidden.bias.copy_(torch.tensor([0.0, -0.5]))
            out.weight.copy_(torch.tensor([[2.0, -4.0]]))
            out.bias.zero_()
        layers += [hidden, nn.ReLU(), out]
    return nn.Sequential(*layers).double()


def count_linear_pieces(f, lo: float = 0.0, hi: float = 1.0, n: int = 2**16 + 1) -> int:
    """Number of linear pieces of a piecewise-linear 1-D function, read off a grid
    whose spacing divides every breakpoint k / 2**depth (for depth <= 15)."""
    x = torch.linspace(lo, hi, n, dtype=torch.float64).unsqueeze(1)
    with torch.no_grad():
        y = f(x).squeeze(1)
    slopes = torch.diff(y) / torch.diff(x.squeeze(1))
    changes = (torch.diff(slopes).abs() > 1e-6).sum().item()
    return int(changes) + 1


# ------------------------------------------------------------------ Q2

def bce(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Q2(b)-(d): binary cross-entropy averaged over the examples."""
    y, y_hat = np.asarray(y, float), np.asarray(y_hat, float)
    return float(np.mean(-(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))))


def l2_gd_step(W: float, grad_bce: float, lr: float, lam: float) -> float:
    """Q2(e)(i): one gradient step on J = J_BCE + lam * W**2."""
    return (1 - 2 * lr * lam) * W - lr * grad_bce


def multitask_loss(y: torch.Tensor, y_hat: torch.Tensor, has_sweetness: torch.Tensor,
                   has_weight: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Q2(g)(ii): y[:, 0] in {0,1} (sweet), y[:, 1] weight in pounds;
    y_hat[:, 0] = sigmoid output, y_hat[:, 1] = linear output.
    BCE on sweetness + lam * squared error on weight, each term only where the
    example has that label (the two datasets label different things)."""
    sweet = -(y[:, 0] * torch.log(y_hat[:, 0]) + (1 - y[:, 0]) * torch.log(1 - y_hat[:, 0]))
    weight = (y[:, 1] - y_hat[:, 1]) ** 2
    per_example = torch.where(has_sweetness, sweet, 0.0) + lam * torch.where(has_weight, weight, 0.0)
    return per_example.mean()


# ------------------------------------------------------------------ Q3

def momentum_step(W: np.ndarray, V: np.ndarray, grad: np.ndarray, lr: float, beta: float):
    """Q3(f)(i): V = beta V + (1 - beta) dJ/dW ; W = W - lr V."""
    V = beta * V + (1 - beta) * grad
    W = W - lr * V
    return W, V


def optim_adam(weights_dict, gradients_dict, cache_dict, step):
    """Q3(g): the exam's skeleton with the five TODO lines filled in, following
    the exam's update rule (epsilon inside the square root). `step` counts from 1."""
    lr, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
    for weight_name in weights_dict:
        w = weights_dict[weight_name]
        grad = gradients_dict[weight_name]
        v = cache_dict["v" + weight_name]
        s = cache_dict["s" + weight_name]

        v = beta1 * v + (1 - beta1) * grad            # exp. weighted average of grad
        s = beta2 * s + (1 - beta2) * grad ** 2       # exp. weighted average of grad^2
        v_corr = v / (1 - beta1 ** step)              # bias correction
        s_corr = s / (1 - beta2 ** step)              # bias correction
        w = w - lr * v_corr / np.sqrt(s_corr + eps)   # Adam update (exam's formula)

        cache_dict["v" + weight_name] = v
        cache_dict["s" + weight_name] = s
        weights_dict[weight_name] = w


def optim_adam_paper(weights_dict, gradients_dict, cache_dict, step):
    """Same step with epsilon outside the square root, as in Kingma & Ba (2015)
    and torch.optim.Adam: only the last line differs."""
    lr, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
    for weight_name in weights_dict:
        w = weights_dict[weight_name]
        grad = gradients_dict[weight_name]
        v = cache_dict["v" + weight_name]
        s = cache_dict["s" + weight_name]

        v = beta1 * v + (1 - beta1) * grad
        s = beta2 * s + (1 - beta2) * grad ** 2
        v_corr = v / (1 - beta1 ** step)
        s_corr = s / (1 - beta2 ** step)
        w = w - lr * v_corr / (np.sqrt(s_corr) + eps)

        cache_dict["v" + weight_name] = v
        cache_dict["s" + weight_name] = s
        weights_dict[weight_name] = w


# ------------------------------------------------------------------ Q4

def forward_batchnorm(Z, gamma, beta, eps, cache_dict, beta_avg, mode):
    """Q4(b): the exam's skeleton with the TODO lines filled in.
    Z has shape (num_examples, num_features); statistics are per feature."""
    if mode == 'train':
        mu = np.mean(Z, axis=0)
        var = np.var(Z, axis=0)                       # biased (divide by m), as in the formula
        cache_dict['mu'] = beta_avg * cache_dict['mu'] + (1 - beta_avg) * mu
        cache_dict['var'] = beta_avg * cache_dict['var'] + (1 - beta_avg) * var
    elif mode == 'test':
        mu = cache_dict['mu']
        var = cache_dict['var']
    else:
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")

    Z_norm = (Z - mu) / np.sqrt(var + eps)
    out = gamma * Z_norm + beta
    return out


def dense_bn_layer(n_in: int = 10, n_out: int = 20, bias: bool = False) -> nn.Sequential:
    """Q4(e): dense layer followed by batch norm on its 20 pre-activations."""
    return nn.Sequential(nn.Linear(n_in, n_out, bias=bias), nn.BatchNorm1d(n_out))


# ------------------------------------------------------------------ Q5

def duplicate_then_split(n: int = 500, n_pos: int = 175, fractions=(0.6, 0.2, 0.2), seed: int = 0):
    """Q5(a): duplicate every positive, shuffle, split. Returns the example ids
    of the train and test parts (a duplicate keeps its original's id)."""
    rng = np.random.default_rng(seed)
    ids = np.concatenate([np.arange(n), np.arange(n_pos)])  # ids < n_pos are the positives
    rng.shuffle(ids)
    n_train = int(fractions[0] * len(ids))
    n_val = int(fractions[1] * len(ids))
    return ids[:n_train], ids[n_train + n_val:]


# ------------------------------------------------------------------ Q6

def fgsm(x: torch.Tensor, grad: torch.Tensor, eps: float) -> torch.Tensor:
    """Q6(b): x* = x + eps * sign(dJ/dx)."""
    return x + eps * torch.sign(grad)


# ------------------------------------------------------------------ Q7

def conv_layers():
    """Q7(c)-(f): 5-wide kernels, 3 input channels, 2 filters, stride 1, no padding."""
    return {
        "conv2d": nn.Conv2d(3, 2, kernel_size=5, stride=1, padding=0),
        "conv1d": nn.Conv1d(3, 2, kernel_size=5, stride=1, padding=0),
        "conv3d": nn.Conv3d(3, 2, kernel_size=5, stride=1, padding=0),
    }


def same_padding(f: int) -> int:
    """Q7(b): padding that keeps the size at stride 1 (odd f)."""
    if f % 2 == 0:
        raise ValueError(f"an even filter width f={f} has no symmetric 'same' padding; pad f-1 in total, unevenly")
    return (f - 1) // 2
