"""NYU Problem 2: the one-unit recurrent network and its closed form.

The network (figure note in the seeds): one scalar hidden unit with a linear
activation, input weight 1, recurrent weight -1, zero biases, h_0 = 0, and an
output unit y_t = sigmoid(w * h_t) with a large positive weight w.
"""
from __future__ import annotations

import math
from typing import Sequence

INPUT_WEIGHT = 1.0
RECURRENT_WEIGHT = -1.0


def sigmoid(z: float) -> float:
    """Logistic function that does not overflow for |z| in the thousands."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _check_sequence(xs: Sequence[int]) -> None:
    if len(xs) == 0:
        raise ValueError("the input sequence is empty")
    if any(not float(x).is_integer() for x in xs):
        raise ValueError(f"the inputs must be integers, got {list(xs)!r}")


def simulate(xs: Sequence[int], w: float = 500.0) -> tuple[list[float], list[float]]:
    """Run the network step by step; return the hidden states h_1..h_T and outputs y_1..y_T."""
    _check_sequence(xs)
    h = 0.0
    hidden, outputs = [], []
    for x in xs:
        h = INPUT_WEIGHT * x + RECURRENT_WEIGHT * h  # h_t = x_t - h_{t-1}
        hidden.append(h)
        outputs.append(sigmoid(w * h))
    return hidden, outputs


def final_hidden_closed_form(xs: Sequence[int]) -> int:
    """h_T = sum_t (-1)^(T-t) x_t; for even T: (sum at even positions) - (sum at odd positions), 1-based."""
    _check_sequence(xs)
    T = len(xs)
    return int(sum((-1) ** (T - t) * int(x) for t, x in enumerate(xs, start=1)))


def final_output_closed_form(xs: Sequence[int]) -> float:
    """The answer to P2 for an even-length sequence, in the limit of a large w:
    1 if the even-position inputs sum to more than the odd-position ones,
    0 if to less, and exactly 1/2 on a tie."""
    if len(xs) % 2:
        raise ValueError(f"P2 assumes an even-length sequence, got length {len(xs)}")
    d = final_hidden_closed_form(xs)
    return 1.0 if d > 0 else 0.0 if d < 0 else 0.5


def largest_error_for_weight(w: float) -> float:
    """How far y_T can be from the 0/1/0.5 answer: sigmoid(-w), reached when |h_T| = 1."""
    return sigmoid(-w)
