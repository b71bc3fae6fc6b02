"""Tests for notebooks/binary_addition_rnn.ipynb (UArk HW2, Question 4).

The dataset, models and deployment functions are the notebook's own code,
loaded from its cells tagged "library"; the last test executes the whole
notebook in the smoke profile.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from conftest import error_outputs, execute_notebook_copy, notebook_namespace, read_metrics

NOTEBOOK = "binary_addition_rnn.ipynb"
SAMPLES = 3000


@pytest.fixture(scope="module")
def nb():
    return notebook_namespace(NOTEBOOK)


def check_pair(nb, inputs, target, first_is_padding):
    length = len(target)
    assert inputs.shape == (length, 2) and inputs.dtype == np.float32 and target.dtype == np.float32
    assert set(np.unique(inputs)) <= {0.0, 1.0} and set(np.unique(target)) <= {0.0, 1.0}
    assert 2 <= length <= nb["MAX_DIGITS"] + 1
    padding = inputs[0] if first_is_padding else inputs[-1]
    assert padding.tolist() == [0.0, 0.0], "at least one padding zero at the most significant end"
    if first_is_padding:  # most significant first: reverse to least significant first
        inputs, target = inputs[::-1], target[::-1]
    a, b, total = (nb["bits_to_int"](column) for column in (inputs[:, 0], inputs[:, 1], target))
    assert a + b == total
    assert max(a.bit_length(), b.bit_length()) <= nb["MAX_DIGITS"]
    assert length == max(a.bit_length(), b.bit_length(), 1) + 1  # exactly one padding zero
    return a, b, length


@pytest.mark.parametrize("order", ["lsb", "msb"])
def test_dataset_invariants(nb, order):
    dataset = nb["BinaryAdditionDataset"](size=SAMPLES, order=order, seed=123)
    assert len(dataset) == SAMPLES
    lengths, operand_digits = set(), set()
    for index in range(SAMPLES):
        a, b, length = check_pair(nb, *dataset[index], first_is_padding=(order == "msb"))
        lengths.add(length)
        operand_digits.update({max(a.bit_length(), 1), max(b.bit_length(), 1)})
    assert lengths == set(range(2, nb["MAX_DIGITS"] + 2)), "every length from 2 to 17 steps occurs"
    assert operand_digits == set(range(1, nb["MAX_DIGITS"] + 1)), "operands of 1..16 digits occur"


def test_dataset_orders_are_reverses(nb):
    lsb = nb["BinaryAdditionDataset"](size=100, order="lsb", seed=7)
    msb = nb["BinaryAdditionDataset"](size=100, order="msb", seed=7)
    for index in range(100):
        (x1, y1), (x2, y2) = lsb[index], msb[index]
        assert np.array_equal(x1, x2[::-1]) and np.array_equal(y1, y2[::-1])


def test_collate_pads_with_leading_zeros(nb):
    dataset = nb["BinaryAdditionDataset"](size=256, seed=5)
    batch = [dataset[i] for i in range(256)]
    inputs, targets, lengths = nb["collate_lsb_first"](batch)
    assert inputs.shape == (256, int(lengths.max()), 2) and targets.shape == inputs.shape[:2]
    for row, (pair, target) in enumerate(batch):
        assert lengths[row] == len(target)
        a, b, s = (nb["bits_to_int"](v.tolist()) for v in (inputs[row, :, 0], inputs[row, :, 1], targets[row]))
        assert a + b == s == nb["bits_to_int"](target)

    msb = nb["BinaryAdditionDataset"](size=256, order="msb", seed=5)
    batch = [msb[i] for i in range(256)]
    inputs, targets, lengths = nb["collate_msb_first"](batch)
    assert inputs.shape == (256, nb["FRAME"], 2)
    for row, (pair, target) in enumerate(batch):
        frame_sum = nb["bits_to_int"](targets[row].flip(0).tolist())
        assert frame_sum == nb["bits_to_int"](target[::-1])
        assert torch.all(inputs[row, : nb["FRAME"] - len(target)] == 0)


def test_exact_sum_bits_matches_python_integers(nb):
    generator = torch.Generator().manual_seed(0)
    inputs, targets = nb["random_pairs"](200, 100, generator)
    for row in range(200):
        a = nb["bits_to_int"](inputs[row, :, 0].int().tolist())
        b = nb["bits_to_int"](inputs[row, :, 1].int().tolist())
        assert nb["bits_to_int"](targets[row].int().tolist()) == a + b


def test_checking_function(nb):
    check = nb["digit_match_percent"]
    question_example = [1, 1, 0, 1, 0, 0, 1, 1, 0]  # 10110100 + 10111, least significant first
    assert check(question_example, 0b10110100, 0b10111) == 100.0
    wrong = question_example.copy()
    wrong[3] = 0
    assert check(wrong, 0b10110100, 0b10111) == pytest.approx(800 / 9)
    assert check(question_example[::-1], 0b10110100, 0b10111, order="msb") == 100.0


def test_hand_built_adder_round_trip(nb, tmp_path):
    """Deployment is exact when the model is: bit order, padding and decoding are right."""
    model = nb["exact_adder"]()
    path = tmp_path / "exact.pt"
    nb["hw"].atomic_torch_save({"state_dict": model.state_dict(), "config": model.config}, path)
    loaded, _ = nb["load_best"](nb["SynchronousAdder"], path)
    rng = random.Random(0)
    for x, y in [(0, 0), (1, 1), (65535, 1), (2**300 - 1, 1)] + [
            (rng.getrandbits(rng.randint(1, 200)), rng.getrandbits(rng.randint(1, 200))) for _ in range(50)]:
        total, x_bits, y_bits, out_bits = nb["add_numbers"](loaded, x, y)
        assert total == x + y
        assert nb["bits_to_int"](x_bits) == x and nb["bits_to_int"](y_bits) == y
        assert len(x_bits) == len(y_bits) == len(out_bits) == max(x.bit_length(), y.bit_length(), 1) + 1
        assert x_bits[-1] == y_bits[-1] == 0
        assert nb["digit_match_percent"](out_bits, x, y) == 100.0


def smoke_train(nb, model, loader, path):
    torch.manual_seed(0)
    history = nb["train"](model, loader, epochs=2, learning_rate=0.01, checkpoint_path=path, desc="smoke")
    assert len(history) == 2 and all(np.isfinite(history)) and path.exists()
    return history


def test_deployment_round_trip_smoke_trained(nb, tmp_path):
    batches = 5 * nb["BATCH_SIZE"]
    loader = torch.utils.data.DataLoader(nb["BinaryAdditionDataset"](size=batches, seed=1),
                                         batch_size=nb["BATCH_SIZE"], collate_fn=nb["collate_lsb_first"])
    history = smoke_train(nb, nb["SynchronousAdder"](), loader, tmp_path / "part1.pt")
    model, saved = nb["load_best"](nb["SynchronousAdder"], tmp_path / "part1.pt")
    assert saved["loss"] == pytest.approx(min(history)) and saved["epoch"] == int(np.argmin(history)) + 1
    for x, y in [(180, 23), (65535, 1), (7, 0)]:
        total, x_bits, y_bits, out_bits = nb["add_numbers"](model, x, y)
        assert total == nb["bits_to_int"](out_bits) and set(out_bits) <= {0, 1}
        assert nb["bits_to_int"](x_bits) == x and nb["bits_to_int"](y_bits) == y
        percent = nb["digit_match_percent"](out_bits, x, y)
        exact = [(x + y) >> k & 1 for k in range(len(out_bits))]
        assert percent == pytest.approx(100 * np.mean([p == e for p, e in zip(out_bits, exact)]))

    msb_loader = torch.utils.data.DataLoader(nb["BinaryAdditionDataset"](size=batches, order="msb", seed=2),
                                             batch_size=nb["BATCH_SIZE"], collate_fn=nb["collate_msb_first"])
    for cell in ("rnn", "gru", "lstm"):
        path = tmp_path / f"part2_{cell}.pt"
        smoke_train(nb, nb["DelayedAdder"](cell, hidden_size=16), msb_loader, path)
        model, saved = nb["load_best"](nb["DelayedAdder"], path)
        assert saved["config"] == {"cell": cell, "hidden_size": 16}
        total, x_bits, y_bits, out_bits = nb["add_numbers_delayed"](model, 40000, 39999)
        assert len(x_bits) == len(out_bits) == nb["FRAME"]
        assert nb["bits_to_int"](x_bits[::-1]) == 40000 and nb["bits_to_int"](y_bits[::-1]) == 39999
        assert total == nb["bits_to_int"](out_bits[::-1])
        assert 0 <= nb["digit_match_percent"](out_bits, 40000, 39999, order="msb") <= 100


class ExplodingModel(torch.nn.Module):
    """Fails the test if validation let bad input through to the model."""

    def forward(self, *args, **kwargs):
        raise AssertionError("bad input reached the model")

    def generate(self, *args, **kwargs):
        raise AssertionError("bad input reached the model")


BAD_OPERANDS = [
    (-1, ValueError, "non-negative"),
    (-(2**70), ValueError, "non-negative"),
    (2.0, TypeError, "float"),
    (1.5, TypeError, "float"),
    (True, TypeError, "bool"),
    (False, TypeError, "bool"),
    (np.bool_(True), TypeError, "bool"),
    ("101", TypeError, "str"),
    (None, TypeError, "NoneType"),
    (torch.tensor(3), TypeError, "Tensor"),
]


@pytest.mark.parametrize("function", ["add_numbers", "add_numbers_delayed"])
@pytest.mark.parametrize("position", [0, 1])
@pytest.mark.parametrize("bad, error, words", BAD_OPERANDS)
def test_bad_operands_are_refused(nb, function, position, bad, error, words):
    operands = [5, 9]
    operands[position] = bad
    name = "xy"[position]
    with pytest.raises(error, match=words) as raised:
        nb[function](ExplodingModel(), *operands)
    assert str(raised.value).startswith(name), "the message names the argument"


def test_other_bad_inputs(nb):
    with pytest.raises(ValueError, match="16"):
        nb["add_numbers_delayed"](ExplodingModel(), 2**16, 1)
    with pytest.raises(ValueError, match="order"):
        nb["BinaryAdditionDataset"](size=10, order="middle")
    with pytest.raises(ValueError, match="cell"):
        nb["DelayedAdder"]("transformer")
    with pytest.raises(ValueError, match="0/1"):
        nb["digit_match_percent"]([0, 2, 1], 1, 1)
    with pytest.raises(ValueError, match="cannot hold"):
        nb["digit_match_percent"]([0, 1], 3, 1)
    with pytest.raises(TypeError, match="float"):
        nb["digit_match_percent"]([0, 1, 0], 1.0, 1)
    with pytest.raises(ValueError, match="order"):
        nb["digit_match_percent"]([0, 1, 0], 1, 1, order="backwards")
    with pytest.raises(ValueError, match="schedule"):
        nb["train"](nb["SynchronousAdder"](), [], 1, 0.01, None, "bad", schedule="linear")
    assert nb["check_operand"](np.int64(7), "x") == 7  # numpy integers are integers too


def test_notebook_smoke(tmp_path):
    executed = execute_notebook_copy(NOTEBOOK, tmp_path, profile="smoke")
    assert error_outputs(executed) == []
    streams = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code"
                      for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "Warning" not in streams
    metrics = read_metrics(tmp_path, "binary_addition")
    assert metrics["profile"] == "smoke" and metrics["device"] in ("cpu", "cuda")
    assert isinstance(metrics["seed"], int) and metrics["train_seconds"] > 0
    part1 = metrics["part1"]
    assert part1["best_epoch_loss"] > 0
    for key in ("digit_accuracy", "sequence_accuracy"):
        assert 0 <= part1[key] <= 1
    assert set(part1["sequence_accuracy_by_digits"]) >= {"16", "32", "64", "256"}
    assert all(0 <= v <= 1 for v in part1["sequence_accuracy_by_digits"].values())
    assert part1["hand_built_sequence_accuracy_256"] == 1.0  # the exact construction is exact
    assert set(metrics["part2"]) == {"rnn", "gru", "lstm"}
    for result in metrics["part2"].values():
        assert 0 <= result["digit_accuracy"] <= 1 and 0 <= result["sequence_accuracy"] <= 1
        assert len(result["digit_accuracy_by_position"]) == 17
        assert all(0 <= v <= 1 for v in result["digit_accuracy_by_position"])
    for figure in ("part1_loss.png", "part2_loss.png", "part2_accuracy_by_position.png"):
        assert (tmp_path / "figures" / "binary_addition" / figure).stat().st_size > 1000
    assert (tmp_path / "build" / "binary_addition" / "part1_best.pt").exists()
