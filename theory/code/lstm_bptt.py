"""UArk Question 2, part 5: back-propagation through time of the LSTM cell, by hand.

Cell (no biases, as in the assignment), row-vector convention, batch first:
    f_t = sigmoid(x_t W_fx^T + h_{t-1} W_fh^T)      forget gate
    i_t = sigmoid(x_t W_ix^T + h_{t-1} W_ih^T)      input gate
    o_t = sigmoid(x_t W_ox^T + h_{t-1} W_oh^T)      output gate
    g_t = tanh   (x_t W_gx^T + h_{t-1} W_gh^T)      candidate
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)
The loss is L = sum_t l_t(h_t); `dl_dh[t]` is the local gradient dl_t/dh_t.
`backward` returns the total derivatives dL/ds (written delta s) of the
equations in the theory answer, for every step, and dL/dW summed over time.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

GATES = ("f", "i", "o", "g")


@dataclass
class LSTMWeights:
    Wx: dict  # gate -> (n_hidden, n_in)
    Wh: dict  # gate -> (n_hidden, n_hidden)

    @staticmethod
    def random(n_in: int, n_hidden: int, generator=None, dtype=torch.float64, scale: float = 0.5):
        def draw(*shape):
            return scale * torch.randn(*shape, generator=generator, dtype=dtype)
        return LSTMWeights({g: draw(n_hidden, n_in) for g in GATES},
                           {g: draw(n_hidden, n_hidden) for g in GATES})


def forward(xs: torch.Tensor, weights: LSTMWeights, h0=None, c0=None) -> dict:
    """xs: (T, B, n_in). Returns a dict of per-step lists: f, i, o, g, c, h (and c_prev, h_prev)."""
    if xs.dim() != 3:
        raise ValueError(f"xs must have shape (T, batch, n_in), got {tuple(xs.shape)}")
    T, B, _ = xs.shape
    n_hidden = weights.Wh["f"].shape[0]
    h = torch.zeros(B, n_hidden, dtype=xs.dtype) if h0 is None else h0
    c = torch.zeros(B, n_hidden, dtype=xs.dtype) if c0 is None else c0
    cache = {key: [] for key in ("f", "i", "o", "g", "c", "h", "c_prev", "h_prev")}
    for t in range(T):
        x = xs[t]
        pre = {g: x @ weights.Wx[g].T + h @ weights.Wh[g].T for g in GATES}
        f, i, o = torch.sigmoid(pre["f"]), torch.sigmoid(pre["i"]), torch.sigmoid(pre["o"])
        g = torch.tanh(pre["g"])
        cache["c_prev"].append(c)
        cache["h_prev"].append(h)
        c = f * c + i * g
        h = o * torch.tanh(c)
        for key, value in zip(("f", "i", "o", "g", "c", "h"), (f, i, o, g, c, h)):
            cache[key].append(value)
    return cache


def backward(xs: torch.Tensor, weights: LSTMWeights, cache: dict, dl_dh: torch.Tensor) -> dict:
    """The derived BPTT equations, from t = T down to 1.

        dh_t = dl_t/dh_t + sum_gates da_gate_{t+1} W_gate,h          (from step t+1)
        do_t = dh_t * tanh(c_t)
        dc_t = dh_t * o_t * (1 - tanh(c_t)^2) + dc_{t+1} * f_{t+1}   (from step t+1)
        df_t = dc_t * c_{t-1};  di_t = dc_t * g_t;  dg_t = dc_t * i_t
        da_f = df_t f_t (1-f_t), da_i = di_t i_t (1-i_t), da_o = do_t o_t (1-o_t), da_g = dg_t (1-g_t^2)
        dW_ix = sum_t da_i_t^T x_t   (and likewise for every W_gate,x / W_gate,h with h_{t-1})
    """
    T = xs.shape[0]
    out = {key: [None] * T for key in ("h", "c", "o", "g", "f", "i")}
    dWx = {g: torch.zeros_like(weights.Wx[g]) for g in GATES}
    dWh = {g: torch.zeros_like(weights.Wh[g]) for g in GATES}
    dh_from_next = torch.zeros_like(cache["h"][0])   # sum_gates da_{t+1} W_gate,h; zero after the last step
    dc_from_next = torch.zeros_like(cache["c"][0])   # dc_{t+1} * f_{t+1}; zero after the last step
    for t in reversed(range(T)):
        f, i, o, g = cache["f"][t], cache["i"][t], cache["o"][t], cache["g"][t]
        c, c_prev, h_prev = cache["c"][t], cache["c_prev"][t], cache["h_prev"][t]
        tanh_c = torch.tanh(c)
        dh = dl_dh[t] + dh_from_next
        do = dh * tanh_c
        dc = dh * o * (1 - tanh_c ** 2) + dc_from_next
        df = dc * c_prev
        di = dc * g
        dg = dc * i
        da = {"f": df * f * (1 - f), "i": di * i * (1 - i), "o": do * o * (1 - o), "g": dg * (1 - g ** 2)}
        for gate in GATES:
            dWx[gate] += da[gate].T @ xs[t]
            dWh[gate] += da[gate].T @ h_prev
        for key, value in zip(("h", "c", "o", "g", "f", "i"), (dh, dc, do, dg, df, di)):
            out[key][t] = value
        # what step t hands to step t-1
        dh_from_next = sum(da[gate] @ weights.Wh[gate] for gate in GATES)
        dc_from_next = dc * f
    out["dWx"], out["dWh"] = dWx, dWh
    return out
