"""NYU Problem 3: softmax self-attention and two ways to make it O(T).

All functions take q, k, v of shape (..., T, d) (any leading batch/head
dimensions) and return (..., T, d_v).

1. `linear_attention`: kernelised attention (Katharopoulos et al., 2020).
   The softmax similarity exp(q.k) is replaced by phi(q).phi(k) with the
   positive feature map phi(x) = elu(x) + 1; associativity then lets us form
   phi(K)^T V (d x d_v) once, so the cost is O(T d d_v) instead of O(T^2 d).
2. `sliding_window_attention`: exact softmax attention restricted to the
   2w+1 keys around each query (Longformer-style local attention without the
   global tokens); cost O(T w d) time and O(T (w + d)) memory.

`linear_attention_quadratic` and `band_mask` are the O(T^2) reference
formulas that the tests compare the fast versions against.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise ValueError("q, k, v must have shape (..., T, d)")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k need the same feature size, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v need the same length, got {k.shape[-2]} and {v.shape[-2]}")


def softmax_attention(q, k, v, mask: torch.Tensor | None = None):
    """softmax(Q K^T / sqrt(d)) V; mask (T_q, T_k) is True where attention is allowed."""
    _check_qkv(q, k, v)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, T): the O(T^2) part
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


# ----------------------------------------------------------------- 1. linear

def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1 > 0, so every similarity phi(q).phi(k) is positive."""
    return F.elu(x) + 1


def linear_attention(q, k, v, causal: bool = False, eps: float = 1e-6):
    """out_i = phi(q_i)^T S / phi(q_i)^T z with S = sum_j phi(k_j) v_j^T, z = sum_j phi(k_j).

    Non-causal: S and z are summed over all j once (O(T d d_v)).
    Causal: running sums over j <= i, which is an RNN with a d x d_v state.
    """
    _check_qkv(q, k, v)
    phi_q, phi_k = elu_feature_map(q), elu_feature_map(k)
    if not causal:
        kv = phi_k.transpose(-2, -1) @ v                   # (..., d, d_v), independent of T
        z = phi_k.sum(dim=-2)                              # (..., d)
        numerator = phi_q @ kv                             # (..., T, d_v)
        denominator = (phi_q * z.unsqueeze(-2)).sum(-1, keepdim=True)
    else:
        if q.shape[-2] != k.shape[-2]:
            raise ValueError("causal attention needs as many queries as keys")
        # prefix sums of the outer products phi(k_j) v_j^T: (..., T, d, d_v)
        kv = torch.cumsum(phi_k.unsqueeze(-1) * v.unsqueeze(-2), dim=-3)
        z = torch.cumsum(phi_k, dim=-2)
        numerator = (phi_q.unsqueeze(-2) @ kv).squeeze(-2)
        denominator = (phi_q * z).sum(-1, keepdim=True)
    return numerator / (denominator + eps)


def linear_attention_quadratic(q, k, v, causal: bool = False, eps: float = 1e-6):
    """The same kernelised attention written the O(T^2) way: A_ij = phi(q_i).phi(k_j),
    rows normalised to sum to 1, out = A V. Reference for the tests."""
    _check_qkv(q, k, v)
    sim = elu_feature_map(q) @ elu_feature_map(k).transpose(-2, -1)   # (..., T, T)
    if causal:
        T = q.shape[-2]
        sim = sim * torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    return (sim @ v) / (sim.sum(-1, keepdim=True) + eps)


# ---------------------------------------------------------- 2. sliding window

def band_mask(T: int, window: int, device=None) -> torch.Tensor:
    """(T, T) boolean mask, True where |i - j| <= window."""
    idx = torch.arange(T, device=device)
    return (idx[:, None] - idx[None, :]).abs() <= window


def sliding_window_attention(q, k, v, window: int):
    """Exact softmax attention where query i sees only keys j with |i - j| <= window.

    Blocked like Longformer's implementation: the sequence is cut into blocks
    of b = window queries; block m needs only the keys of blocks m-1, m, m+1
    (3b keys), so the scores are (..., T/b, b, 3b), i.e. 3 * window * T numbers,
    never a T x T matrix: time O(T * window * d), memory O(T * (window + d)).
    Keys outside the band (or in the zero padding) are masked before the softmax.
    """
    _check_qkv(q, k, v)
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    T = q.shape[-2]
    if k.shape[-2] != T:
        raise ValueError("sliding-window self-attention needs as many queries as keys")
    b = max(window, 1)                              # block size
    n = -(-T // b)                                  # number of blocks, ceil(T / b)
    pad_end = n * b - T
    q_blocks = F.pad(q, (0, 0, 0, pad_end)).unflatten(-2, (n, b))                  # (..., n, b, d)
    # one block of zeros in front and behind, so block m's keys are rows [m*b, m*b + 3b)
    k_pad = F.pad(k, (0, 0, b, b + pad_end))
    v_pad = F.pad(v, (0, 0, b, b + pad_end))
    k_blocks = k_pad.unfold(-2, 3 * b, b).transpose(-2, -1)                        # (..., n, 3b, d)
    v_blocks = v_pad.unfold(-2, 3 * b, b).transpose(-2, -1)
    scores = q_blocks @ k_blocks.transpose(-2, -1) / math.sqrt(q.shape[-1])        # (..., n, b, 3b)
    i = (torch.arange(n, device=q.device)[:, None] * b + torch.arange(b, device=q.device))[:, :, None]
    j = (torch.arange(n, device=q.device)[:, None] * b - b + torch.arange(3 * b, device=q.device))[:, None, :]
    allowed = ((i - j).abs() <= window) & (j >= 0) & (j < T)                       # (n, b, 3b)
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    out = (weights @ v_blocks).flatten(-3, -2)                                     # (..., n*b, d_v)
    return out[..., :T, :]


# ---------------------------- UArk Question 3, part 2: multi-head, positions

def multi_head_self_attention(x, w_q, w_k, w_v, w_o, heads: int, mask=None):
    """MultiHead(X) = Concat(head_1, ..., head_H) W_O with head_h = softmax attention of
    (X W_Q)_h, (X W_K)_h, (X W_V)_h, where (.)_h is the h-th block of d_model / H columns.
    Weights are (d_model, d_model) and act on rows: X W."""
    T, d_model = x.shape[-2:]
    if d_model % heads:
        raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")

    def split(y):  # (..., T, d_model) -> (..., H, T, d_model / H)
        return y.unflatten(-1, (heads, d_model // heads)).transpose(-3, -2)

    out = softmax_attention(split(x @ w_q), split(x @ w_k), split(x @ w_v), mask=mask)
    return out.transpose(-3, -2).flatten(-2) @ w_o


def sinusoidal_positional_encoding(T: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d)); shape (T, d_model)."""
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    position = torch.arange(T, dtype=torch.float64)[:, None]
    frequency = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(T, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * frequency)
    pe[:, 1::2] = torch.cos(position * frequency)
    return pe
