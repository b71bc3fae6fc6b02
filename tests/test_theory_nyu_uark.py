"""Checks of the written answers in theory/sections/nyu_p1_p3.tex and uark_q1_q3.tex."""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from theory.code import attention, bench_attention, lstm_bptt, recurrence

FIGURES = Path(__file__).resolve().parents[1] / "figures" / "theory"


# ------------------------------------------------- NYU P1(a), UArk Q1 part 2

@pytest.mark.parametrize("side, length", [(28, 784), (512, 262_144)])
def test_raster_order_puts_vertical_neighbours_a_row_apart(side, length):
    # an RNN reads a flattened image: the sequence is side * side long, and the pixel below
    # (r, c) is read `side` steps after it (NYU P1(a): 784 for a 28 x 28 digit; UArk Q1: 512, 262,144)
    pixels = torch.arange(side * side).reshape(side, side)     # an image whose pixels hold their own ids
    sequence = pixels.flatten()                                 # the order in which the RNN reads them
    step = torch.empty_like(sequence)
    step[sequence] = torch.arange(len(sequence))                # step at which each pixel is read
    step = step.reshape(side, side)
    assert len(sequence) == length
    assert (step[1:, :] - step[:-1, :]).unique().tolist() == [side]


# ------------------------------------------------------------ NYU P1(b)

class PixelGRUClassifier(torch.nn.Module):
    """Reads an image pixel by pixel in raster order; classifies the last hidden state."""

    def __init__(self, channels: int = 1, hidden: int = 8, classes: int = 10):
        super().__init__()
        self.gru = torch.nn.GRU(channels, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, classes)

    def forward(self, images):                                 # (batch, channels, height, width)
        sequence = images.flatten(2).transpose(1, 2)            # (batch, height * width, channels)
        _, last = self.gru(sequence)
        return self.head(last[-1])


def test_p1b_row_rnn_classifies_any_image_size():
    # the same RNN weights give one score vector per image whatever its size; a CNN whose
    # convolutions end in flatten + dense only takes the size it was built for
    torch.manual_seed(0)
    rnn = PixelGRUClassifier()
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 28 * 28, 10))
    with torch.no_grad():
        for height, width in [(28, 28), (40, 300), (5, 7)]:
            images = torch.randn(2, 1, height, width)
            scores = rnn(images)
            assert scores.shape == (2, 10) and torch.isfinite(scores).all()
            if (height, width) == (28, 28):
                assert cnn(images).shape == (2, 10)
            else:
                with pytest.raises(RuntimeError):
                    cnn(images)


@pytest.mark.parametrize("k", [3, 5])
def test_p1b_stacked_convs_see_1_plus_L_times_k_minus_1(k):
    # L stride-1 k x k convolutions (no pooling): one output sees 1 + L(k - 1) pixels across,
    # so seeing n pixels takes (n - 1) / (k - 1) layers, about n / (k - 1)
    for layers in range(1, 5):
        x = torch.zeros(1, 1, 41, 41, requires_grad=True)
        y = x
        for _ in range(layers):
            conv = torch.nn.Conv2d(1, 1, k, padding=k // 2, bias=False)
            torch.nn.init.ones_(conv.weight)                    # positive weights: nothing cancels
            y = conv(y)
        (grad,) = torch.autograd.grad(y[0, 0, 20, 20], x)
        seen = (grad[0, 0] != 0).nonzero()
        width = (seen[:, 1].max() - seen[:, 1].min() + 1).item()
        assert width == 1 + layers * (k - 1)


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
    assert recurrence.simulate(xs)[0] == [3, 1, 4, 1]
    assert recurrence.simulate(xs, w=500.0)[1][-1] == 1.0       # 1 - sigmoid(500) is below double precision
    assert f"{recurrence.simulate([4, 3, 5, 5], w=500.0)[1][-1]:.0e}" == "7e-218"   # margin -1: sigmoid(-500)
    # the bound sigma(-w) as the answer states it: 2e-9 for w = 20, about 7e-218 for w = 500
    assert f"{recurrence.largest_error_for_weight(20.0):.0e}" == "2e-09"
    assert f"{recurrence.largest_error_for_weight(500.0):.0e}" == "7e-218"
    # with w = 1 the output is a soft score, not the comparison: sigma(1) ~ 0.73
    soft = recurrence.simulate(xs, w=1.0)[1][-1]
    assert abs(soft - 1 / (1 + math.exp(-1))) < 1e-12 and round(soft, 2) == 0.73


def test_p2_odd_steps_compare_the_other_way():
    # at an odd step t the sign pattern flips: h_t = (odd-position sum) - (even-position sum) up to t
    xs = [5, 1, 2]
    hidden, _ = recurrence.simulate(xs)
    assert hidden == [5, -4, 6]
    assert hidden[-1] == (5 + 2) - 1


def test_p2_consecutive_integers_give_n():
    # inputs 1, 2, ..., 2n: each pair (x_2k - x_2k-1) adds +1, so h_2n = n (1,2,3,4 gives 2)
    for n in range(1, 21):
        hidden, outputs = recurrence.simulate(list(range(1, 2 * n + 1)), w=500.0)
        assert hidden[-1] == n
        assert outputs[-1] == 1.0
    assert recurrence.simulate([1, 2, 3, 4])[0][-1] == 2


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


@pytest.mark.parametrize("layers", [1, 2, 3, 4])
@pytest.mark.parametrize("w", [1, 2, 3])
def test_p3_window_receptive_field_is_2Lw_plus_1(layers, w):
    """L stacked self-attention layers (queries, keys and values all from the
    layer below) with window w: one output sees the 2Lw + 1 inputs within Lw."""
    T, centre = 41, 20                              # 20 > 4 * 3: the field never reaches an edge
    x = qkv(T=T, heads=())[0].clone().requires_grad_(True)
    mask = attention.band_mask(T, w)
    blocked, masked = x, x
    for _ in range(layers):
        blocked = attention.sliding_window_attention(blocked, blocked, blocked, w)
        masked = attention.softmax_attention(masked, masked, masked, mask=mask)
    torch.testing.assert_close(blocked, masked)     # the blocked stack is the band-masked one
    (grad,) = torch.autograd.grad(blocked[centre].sum(), x)
    reached = (grad.abs().sum(-1) > 0).nonzero().flatten().tolist()
    assert reached == list(range(centre - layers * w, centre + layers * w + 1))
    assert len(reached) == 2 * layers * w + 1


def softmax_inputs(attend, *args) -> list:
    """The tensors an attention function hands to torch.softmax, i.e. the
    attention scores it computes, recorded while it runs."""
    seen = []

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func is torch.softmax:
                seen.append(args[0])
            return func(*args, **(kwargs or {}))

    with Record():
        attend(*args)
    return seen


@pytest.mark.parametrize("w", [1, 4, 16])
def test_p3_window_computes_3w_scores_per_query(w):
    T = 64 * w
    q, k, v = qkv(T=T, heads=())
    (scores,) = softmax_inputs(attention.sliding_window_attention, q, k, v, w)
    assert scores.shape[-1] == 3 * w                  # per query: its block and the two beside it
    assert scores.numel() == 3 * w * T                # 3wT in all when w divides T ...
    (full,) = softmax_inputs(attention.softmax_attention, q, k, v)
    assert full.numel() == T * T                      # ... against T^2
    q, k, v = qkv(T=T + 1, heads=())                  # otherwise the last block is padded to w queries
    (scores,) = softmax_inputs(attention.sliding_window_attention, q, k, v, w)
    assert scores.numel() == 3 * w * w * 65


def test_p3_score_matrix_is_16_GiB_at_65536():
    q, k, v = (torch.randn(256, 64) for _ in range(3))   # float32, d = 64 as in the benchmark
    (scores,) = softmax_inputs(attention.softmax_attention, q, k, v)
    assert scores.shape == (256, 256) and scores.dtype == torch.float32   # one T x T matrix of the input dtype
    nbytes = 65536 ** 2 * scores.element_size()
    assert nbytes == 2 ** 34 == 16 * 2 ** 30          # 16 GiB exactly
    assert round(nbytes / 1e9, 1) == 17.2             # that is 17.2 GB, not 16 GB


def test_p3_linear_attention_matrix_has_rank_at_most_d():
    q, k, v = qkv(T=37, d=8, heads=())
    phi = attention.elu_feature_map
    assert torch.linalg.matrix_rank(phi(q) @ phi(k).T).item() == 8          # rank <= d = 8 ...
    (scores,) = softmax_inputs(attention.softmax_attention, q, k, v)
    assert torch.linalg.matrix_rank(torch.softmax(scores, -1)).item() == 37   # ... softmax's is full


def test_p3_measured_slopes(tmp_path):
    """The benchmark as committed (figures/theory/attention_scaling.json):
    T = 2^8 ... 2^16, time slope 2 for softmax and about 1 for both variants
    on the log-log plot, and the table in the PDF is made from these numbers."""
    bench = json.loads((FIGURES / "attention_scaling.json").read_text())
    assert bench["d_model"] == 64 and bench["dtype"] == "float32" and bench["threads"] == 1
    slopes, Ts = {}, set()
    for label, rows in bench["results"].items():
        T = np.array([r["T"] for r in rows])
        seconds = np.array([r["seconds"] for r in rows])
        slopes[label] = np.polyfit(np.log(T), np.log(seconds), 1)[0]
        Ts |= set(T.tolist())
    assert (min(Ts), max(Ts)) == (2 ** 8, 2 ** 16)
    assert round(slopes.pop("softmax (full)")) == 2
    assert [round(slope) for slope in slopes.values()] == [1, 1]
    bench_attention.write_table(bench["results"], tmp_path / "table.tex")
    assert (tmp_path / "table.tex").read_text() == (FIGURES / "attention_scaling_table.tex").read_text()


def test_p3_attention_rejects_mismatched_shapes():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="feature size"):
        attention.linear_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="window"):
        attention.sliding_window_attention(q, k, v, -1)


# ------------------------------------------ UArk Question 2, part 5: LSTM BPTT

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


# ------------------------------------- UArk Question 2, part 3: vanishing/exploding

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
    gain = h0.grad.norm().item() / v.norm().item()
    assert gain == pytest.approx(scale ** T, rel=1e-9)
    # as the answer states them: 0.9^50 ~ 5e-3 (vanishes), 1.1^50 ~ 117 (explodes)
    if scale == 0.9:
        assert f"{gain:.0e}" == "5e-03"
    if scale == 1.1:
        assert round(gain) == 117


def test_q2c_activation_slopes_at_most_1_and_a_quarter():
    # gamma = max |f'|: 1 for tanh, 1/4 for the sigmoid, both reached at 0
    z = (torch.arange(-10_000, 10_001, dtype=torch.float64) / 1000).requires_grad_(True)  # holds 0 exactly
    (tanh_slope,) = torch.autograd.grad(torch.tanh(z).sum(), z)
    (sigmoid_slope,) = torch.autograd.grad(torch.sigmoid(z).sum(), z)
    assert tanh_slope.max().item() == 1.0 and sigmoid_slope.max().item() == 0.25
    assert z[tanh_slope.argmax()].item() == 0.0 == z[sigmoid_slope.argmax()].item()


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


# ------------------------------------------ UArk Question 3, part 2: heads, positions

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


def test_q3_scaling_by_sqrt_dk_keeps_score_variance_near_1():
    # q, k with independent unit-variance entries: q.k has variance d_k, q.k / sqrt(d_k) variance 1
    g = torch.Generator().manual_seed(0)
    for d_k in (16, 64, 256):
        q, k = (torch.randn(20_000, d_k, generator=g, dtype=torch.float64) for _ in range(2))
        scores = (q * k).sum(-1)
        assert scores.var().item() == pytest.approx(d_k, rel=0.05)
        assert (scores / math.sqrt(d_k)).var().item() == pytest.approx(1.0, rel=0.05)


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


def test_q3_sinusoid_wavelengths_from_2pi_to_just_below_10000_times_2pi():
    d_model = 512
    pe = attention.sinusoidal_positional_encoding(2, d_model)
    omega = torch.atan2(pe[1, 0::2], pe[1, 1::2])          # the angle each pair turns per position
    wavelength = 2 * math.pi / omega
    assert wavelength[0].item() == pytest.approx(2 * math.pi, rel=1e-12)
    ratios = wavelength[1:] / wavelength[:-1]               # a geometric progression ...
    torch.testing.assert_close(ratios, torch.full_like(ratios, 10000 ** (2 / d_model)))
    longest = wavelength[-1].item()                         # ... up to 2 pi 10000^(1 - 2/d), just below 10000 * 2 pi
    assert longest == pytest.approx(2 * math.pi * 10000 ** (1 - 2 / d_model), rel=1e-9)
    assert 0.96 < longest / (2 * math.pi * 10000) < 1


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
    assert torch.cdist(pe, pe).add(torch.eye(60, dtype=torch.float64)).min() > 1e-3   # all positions distinct
