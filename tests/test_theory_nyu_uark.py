"""Checks of the written answers in theory/sections/nyu_p1_p3.tex and uark_q1_q3.tex."""
from __future__ import annotations

import math
import random

import pytest
import torch

from theory.code import attention, lstm_bptt, recurrence


# ------------------------------------------------------------ NYU Problem 2

def random_even_sequences(n: int, seed: int = 0):
    """Random even-length integer sequences, a third of them forced to be ties."""
    rng = random.Random(seed)
    for k in range(n):
        T = 2 * rng.randint(1, 20)
        xs = [rng.randint(-9, 9) for _ in range(T)]
        if k % 3 == 0:  # make a tie: shift the last even-position input so that the two sums agree
            xs[-1] -= recurrence.final_hidden_closed_form(xs)
        yield xs


@pytest.mark.parametrize("w", [20.0, 500.0, 1000.0])
def test_p2_simulation_matches_closed_form(w):
    ties = wins = losses = 0
    for xs in random_even_sequences(3000):
        hidden, outputs = recurrence.simulate(xs, w=w)
        even_sum, odd_sum = sum(xs[1::2]), sum(xs[0::2])  # positions 2,4,.. and 1,3,.. (1-based)
        # h_T = (sum at even positions) - (sum at odd positions), exactly
        assert hidden[-1] == recurrence.final_hidden_closed_form(xs) == even_sum - odd_sum
        expected = recurrence.final_output_closed_form(xs)
        if expected == 0.5:
            ties += 1
            assert outputs[-1] == 0.5                    # a tie gives exactly 1/2, for every w
        else:
            wins += expected == 1.0
            losses += expected == 0.0
            # y_T = sigmoid(w h_T), within sigmoid(-w) of the 0/1 answer because |h_T| >= 1 for integers
            assert outputs[-1] == recurrence.sigmoid(w * hidden[-1])
            assert abs(outputs[-1] - expected) <= recurrence.largest_error_for_weight(w) + 1e-15
    assert ties >= 900 and wins >= 500 and losses >= 500     # every case was exercised


def test_p2_large_weight_is_what_makes_it_a_step():
    xs = [3, 4, 5, 5]  # even-position sum 9 beats odd-position sum 8 by the smallest margin, 1
    assert recurrence.simulate(xs, w=500.0)[1][-1] == 1.0       # 1 - sigmoid(500) is below double precision
    assert recurrence.simulate([4, 3, 5, 5], w=500.0)[1][-1] < 1e-200   # margin -1: sigmoid(-500) ~ 7e-218
    assert recurrence.largest_error_for_weight(500.0) < 1e-200
    assert recurrence.largest_error_for_weight(20.0) < 3e-9
    # with w = 1 the output is a soft score, not the comparison
    assert abs(recurrence.simulate(xs, w=1.0)[1][-1] - 1 / (1 + math.exp(-1))) < 1e-12


def test_p2_odd_steps_compare_the_other_way():
    # at an odd step t the sign pattern flips: h_t = (odd-position sum) - (even-position sum) up to t
    xs = [5, 1, 2]
    hidden, _ = recurrence.simulate(xs)
    assert hidden == [5, -4, 6]
    assert hidden[-1] == (5 + 2) - 1


def test_p2_rejects_bad_input():
    with pytest.raises(ValueError, match="even-length"):
        recurrence.final_output_closed_form([1, 2, 3])
    with pytest.raises(ValueError, match="integers"):
        recurrence.simulate([1.5, 2])


# ------------------------------------------------------------ NYU Problem 3

def qkv(T=37, d=8, heads=(2, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*heads, T, d, generator=g, dtype=torch.float64) for _ in range(3)]


@pytest.mark.parametrize("causal", [False, True])
def test_p3_linear_equals_kernel_formula(causal):
    q, k, v = qkv()
    fast = attention.linear_attention(q, k, v, causal=causal)
    # written out by hand: out_i = sum_j phi(q_i).phi(k_j) v_j / sum_j phi(q_i).phi(k_j)
    phi = lambda x: torch.where(x > 0, x + 1, torch.exp(x))
    sim = phi(q) @ phi(k).transpose(-2, -1)
    if causal:
        sim = sim.tril()
    by_hand = (sim @ v) / sim.sum(-1, keepdim=True)
    torch.testing.assert_close(fast, by_hand, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(fast, attention.linear_attention_quadratic(q, k, v, causal=causal))


def test_p3_linear_is_not_softmax():
    # the pro/con in the answer: it is not an approximation of softmax attention, it is another similarity
    q, k, v = qkv()
    gap = (attention.linear_attention(q, k, v) - attention.softmax_attention(q, k, v)).abs().max()
    assert gap > 1e-2


def test_p3_causal_linear_sees_only_past():
    q, k, v = qkv(T=12)
    out = attention.linear_attention(q, k, v, causal=True)
    v2 = v.clone()
    v2[..., 7:, :] += 10.0                      # change the future of step 6
    out2 = attention.linear_attention(q, k, v2, causal=True)
    torch.testing.assert_close(out[..., :7, :], out2[..., :7, :])
    assert not torch.allclose(out[..., 7:, :], out2[..., 7:, :])


@pytest.mark.parametrize("window", [0, 1, 4, 36, 100])
def test_p3_window_equals_band_masked_softmax(window):
    q, k, v = qkv(T=37)
    fast = attention.sliding_window_attention(q, k, v, window)
    masked = attention.softmax_attention(q, k, v, mask=attention.band_mask(37, window))
    torch.testing.assert_close(fast, masked)
    full = attention.softmax_attention(q, k, v)
    if window >= 36:           # the band covers everything: plain softmax attention
        torch.testing.assert_close(fast, full)
    else:                      # otherwise it really drops the far keys
        assert (fast - full).abs().max() > 1e-3


def test_p3_window_receptive_field_per_layer():
    # one layer: output i does not depend on v_j for |i - j| > w; two layers: up to 2w
    T, w = 30, 3
    q, k, v = qkv(T=T, heads=())
    v = v.clone().requires_grad_(True)
    out = attention.sliding_window_attention(q, k, v, w)
    out[15].sum().backward()
    reached = (v.grad.abs().sum(-1) > 0).nonzero().flatten().tolist()
    assert reached == list(range(15 - w, 15 + w + 1))
    x = v.detach().clone().requires_grad_(True)
    two = attention.sliding_window_attention(x, x, attention.sliding_window_attention(x, x, x, w), w)
    two[15].sum().backward()
    reached = (x.grad.abs().sum(-1) > 0).nonzero().flatten().tolist()
    assert reached == list(range(15 - 2 * w, 15 + 2 * w + 1))


def test_p3_attention_rejects_mismatched_shapes():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="feature size"):
        attention.linear_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="window"):
        attention.sliding_window_attention(q, k, v, -1)


# ------------------------------------------------------- UArk Q2: LSTM BPTT

def lstm_autograd(T=5, B=3, n_in=4, n_hidden=6, seed=0):
    """Run the LSTM with autograd, keeping .grad of every intermediate state."""
    g = torch.Generator().manual_seed(seed)
    weights = lstm_bptt.LSTMWeights.random(n_in, n_hidden, generator=g)
    for W in list(weights.Wx.values()) + list(weights.Wh.values()):
        W.requires_grad_(True)
    xs = torch.randn(T, B, n_in, generator=g, dtype=torch.float64)
    targets = torch.randn(T, B, n_hidden, generator=g, dtype=torch.float64)
    cache = lstm_bptt.forward(xs, weights)
    for key in ("f", "i", "o", "g", "c", "h"):
        for tensor in cache[key]:
            tensor.retain_grad()
    # a loss on every h_t: L = sum_t 0.5 ||h_t - y_t||^2, so dl_t/dh_t = h_t - y_t
    loss = sum(0.5 * ((h - y) ** 2).sum() for h, y in zip(cache["h"], targets))
    loss.backward()
    dl_dh = torch.stack([h.detach() - y for h, y in zip(cache["h"], targets)])
    detached = {key: [t.detach() for t in values] for key, values in cache.items()}
    plain = lstm_bptt.LSTMWeights({k: W.detach() for k, W in weights.Wx.items()},
                                  {k: W.detach() for k, W in weights.Wh.items()})
    return xs, weights, plain, cache, detached, dl_dh


@pytest.mark.parametrize("T", [1, 2, 6])
def test_lstm_bptt_every_delta_matches_autograd(T):
    xs, weights, plain, cache, detached, dl_dh = lstm_autograd(T=T)
    ours = lstm_bptt.backward(xs, plain, detached, dl_dh)
    for t in range(T):
        for key in ("h", "c", "o", "g", "f", "i"):
            torch.testing.assert_close(ours[key][t], cache[key][t].grad, msg=f"delta {key} at t={t + 1}")


def test_lstm_bptt_flow_from_next_step_matters():
    # for t < T the total dL/dh_t and dL/dc_t differ from the local terms: the "from t+1" parts are not zero
    T = 6
    xs, weights, plain, cache, detached, dl_dh = lstm_autograd(T=T)
    for t in range(T - 1):
        assert (cache["h"][t].grad - dl_dh[t]).abs().max() > 1e-3
        tanh_c = torch.tanh(detached["c"][t])
        local_dc = cache["h"][t].grad * detached["o"][t] * (1 - tanh_c ** 2)
        torch.testing.assert_close(cache["c"][t].grad - local_dc,
                                   cache["c"][t + 1].grad * detached["f"][t + 1])


def test_lstm_bptt_dW_summed_over_time():
    xs, weights, plain, cache, detached, dl_dh = lstm_autograd(T=6)
    ours = lstm_bptt.backward(xs, plain, detached, dl_dh)
    torch.testing.assert_close(ours["dWx"]["i"], weights.Wx["i"].grad)   # the asked-for dW_ix
    # dW_ix = sum_t (di_t * i_t * (1 - i_t))^T x_t, written out once more
    by_hand = sum((ours["i"][t] * detached["i"][t] * (1 - detached["i"][t])).T @ xs[t] for t in range(6))
    torch.testing.assert_close(by_hand, weights.Wx["i"].grad)
    for gate in lstm_bptt.GATES:                                          # "the others follow the same equation"
        torch.testing.assert_close(ours["dWx"][gate], weights.Wx[gate].grad)
        torch.testing.assert_close(ours["dWh"][gate], weights.Wh[gate].grad)
    # the last step alone is not the answer: the sum over time is
    last_only = (ours["i"][-1] * detached["i"][-1] * (1 - detached["i"][-1])).T @ xs[-1]
    assert (last_only - weights.Wx["i"].grad).abs().max() > 1e-3


def test_lstm_forward_matches_torch_lstm_cell():
    # our cell is PyTorch's LSTM cell with zero biases (gate order i, f, g, o in torch)
    g = torch.Generator().manual_seed(1)
    weights = lstm_bptt.LSTMWeights.random(4, 5, generator=g)
    cell = torch.nn.LSTMCell(4, 5, bias=False).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.cat([weights.Wx[k] for k in "ifgo"]))
        cell.weight_hh.copy_(torch.cat([weights.Wh[k] for k in "ifgo"]))
    xs = torch.randn(4, 2, 4, generator=g, dtype=torch.float64)
    cache = lstm_bptt.forward(xs, weights)
    h = c = torch.zeros(2, 5, dtype=torch.float64)
    for t in range(4):
        h, c = cell(xs[t], (h, c))
        torch.testing.assert_close(h.detach(), cache["h"][t])
        torch.testing.assert_close(c.detach(), cache["c"][t])


# ---------------------------------------------- UArk Q2(c): vanishing/exploding

@pytest.mark.parametrize("scale", [0.9, 1.0, 1.1])
def test_q2c_gradient_is_power_of_gain(scale):
    # linear RNN h_t = W h_{t-1} + U x_t with W = scale * orthogonal: ||dh_T/dh_0 v|| = scale^T ||v||
    g = torch.Generator().manual_seed(0)
    n, T = 8, 50
    W = scale * torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
    h0 = torch.randn(n, generator=g, dtype=torch.float64, requires_grad=True)
    h = h0
    for _ in range(T):
        h = W @ h + torch.randn(n, generator=g, dtype=torch.float64)
    v = torch.randn(n, generator=g, dtype=torch.float64)
    (h @ v).backward()
    assert h0.grad.norm().item() == pytest.approx(scale ** T * v.norm().item(), rel=1e-9)
    # 0.9^50 ~ 5e-3 (vanishes), 1.1^50 ~ 117 (explodes)


def test_q2c_tanh_saturation_vanishes():
    # with tanh, each step multiplies by diag(1 - h_t^2) <= 1: the gradient is below the linear one
    g = torch.Generator().manual_seed(0)
    n, T = 8, 30
    W = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
    h0 = torch.randn(n, generator=g, dtype=torch.float64, requires_grad=True)
    h = h0
    for _ in range(T):
        h = torch.tanh(W @ h + 2 * torch.randn(n, generator=g, dtype=torch.float64))
    v = torch.ones(n, dtype=torch.float64)
    (h @ v).backward()
    assert h0.grad.norm().item() < 1e-2 * v.norm().item()


# ------------------------------------------------- UArk Q3(b): heads, positions

def test_q3_multi_head_matches_torch():
    g = torch.Generator().manual_seed(0)
    d_model, heads, T = 12, 3, 7
    x = torch.randn(2, T, d_model, generator=g, dtype=torch.float64)
    w_q, w_k, w_v, w_o = (torch.randn(d_model, d_model, generator=g, dtype=torch.float64) / 4 for _ in range(4))
    ours = attention.multi_head_self_attention(x, w_q, w_k, w_v, w_o, heads)
    mha = torch.nn.MultiheadAttention(d_model, heads, bias=False, batch_first=True).double()
    with torch.no_grad():  # torch stores weights transposed: y = x W^T
        mha.in_proj_weight.copy_(torch.cat([w_q.T, w_k.T, w_v.T]))
        mha.out_proj.weight.copy_(w_o.T)
    theirs, _ = mha(x, x, x, need_weights=False)
    torch.testing.assert_close(ours, theirs)


def test_q3_order_needs_positions():
    g = torch.Generator().manual_seed(0)
    d_model, heads, T = 8, 2, 6
    x = torch.randn(T, d_model, generator=g, dtype=torch.float64)
    ws = [torch.randn(d_model, d_model, generator=g, dtype=torch.float64) / 3 for _ in range(4)]
    perm = torch.randperm(T, generator=g)
    attend = lambda inp: attention.multi_head_self_attention(inp, *ws, heads=heads)
    # permutation equivariant: shuffling the tokens only shuffles the outputs
    torch.testing.assert_close(attend(x[perm]), attend(x)[perm])
    pe = attention.sinusoidal_positional_encoding(T, d_model)
    assert not torch.allclose(attend(x[perm] + pe), attend(x + pe)[perm])


def test_q3_sinusoid_shift_is_rotation():
    d_model, k = 16, 5
    pe = attention.sinusoidal_positional_encoding(60, d_model)
    frequency = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    cos, sin = torch.cos(k * frequency), torch.sin(k * frequency)
    for p in (0, 7, 40):
        s, c = pe[p, 0::2], pe[p, 1::2]
        # sin(a + b) = sin a cos b + cos a sin b, cos(a + b) = cos a cos b - sin a sin b
        torch.testing.assert_close(pe[p + k, 0::2], s * cos + c * sin)
        torch.testing.assert_close(pe[p + k, 1::2], c * cos - s * sin)
    assert pe.abs().max() <= 1.0
    assert torch.cdist(pe, pe).add(torch.eye(60, dtype=torch.float64)).min() > 1e-3   # all positions distinct
