"""Tests for notebooks/binary_addition_rnn.ipynb (UArk HW2, Question 4).

The dataset, models and deployment functions are the notebook's own code,
loaded from its cells tagged "library". The whole notebook runs in the smoke
profile in tests/test_notebook_runs.py, which calls check_smoke_run below; the
committed metrics and the ablation file are checked against the claims the
notebook's text makes.
"""
from __future__ import annotations

import importlib.util
import json
import random
import re

import nbformat
import numpy as np
import pytest
import torch

from conftest import REPO, notebook_namespace
from conftest import committed_metrics

NOTEBOOK = "binary_addition_rnn.ipynb"
TOPIC_DIR = REPO / "figures" / "binary_addition"
SAMPLES = 3000


pytestmark = pytest.mark.usefixtures("one_thread")  # (conftest) these tests share the machine with other runs


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


# ------------------------------------------------------------------ dataset

@pytest.mark.parametrize("order", ["lsb", "msb"])
def test_dataset_invariants(nb, order):
    dataset = nb["BinaryAdditionDataset"](size=SAMPLES, order=order, seed=123)
    assert len(dataset) == SAMPLES
    lengths, operand_digits = [], []
    for index in range(SAMPLES):
        a, b, length = check_pair(nb, *dataset[index], first_is_padding=(order == "msb"))
        lengths.append(length)
        operand_digits += [max(a.bit_length(), 1), max(b.bit_length(), 1)]
    assert set(lengths) == set(range(2, nb["MAX_DIGITS"] + 2)), "every length from 2 to 17 steps occurs"
    counts = np.bincount(operand_digits, minlength=17)[1:]
    # each operand's length is uniform over 1..16: 2 * 3000 / 16 = 375 expected per length
    assert counts.min() > 300 and counts.max() < 450, counts


def test_same_index_same_pair_and_fresh_pairs_every_epoch(nb):
    make = nb["BinaryAdditionDataset"]
    dataset = make(size=500, seed=3)
    first = [dataset[i] for i in range(500)]
    again = make(size=500, seed=3)  # another instance, same seed
    for index in (0, 17, 499):
        for a, b in zip(first[index], dataset[index]):
            assert np.array_equal(a, b), "dataset[i] twice gives the same pair"
        for a, b in zip(first[index], again[index]):
            assert np.array_equal(a, b), "the pair depends on (seed, epoch, index) only"
    order = list(range(500))
    random.Random(0).shuffle(order)
    shuffled = {i: dataset[i] for i in order}  # the order of access does not matter
    assert all(np.array_equal(shuffled[i][1], first[i][1]) for i in range(500))

    def sums(ds):
        return [nb["bits_to_int"](ds[i][1]) for i in range(500)]

    epoch0 = sums(dataset)
    dataset.set_epoch(1)
    epoch1 = sums(dataset)
    assert sum(a != b for a, b in zip(epoch0, epoch1)) > 450, "set_epoch gives fresh pairs"
    dataset.set_epoch(0)
    assert sums(dataset) == epoch0
    other_seed = sums(make(size=500, seed=4))
    assert sum(a != b for a, b in zip(epoch0, other_seed)) > 450, "another seed, other pairs"


def test_iteration_stops_at_len_and_bad_indices_are_refused(nb):
    dataset = nb["BinaryAdditionDataset"](size=37, seed=0)
    items = list(dataset)  # the sequence protocol: stops at the first IndexError
    assert len(items) == 37
    assert np.array_equal(items[-1][1], dataset[36][1]) and np.array_equal(dataset[-1][1], dataset[36][1])
    for bad in (37, 1000, -38):
        with pytest.raises(IndexError, match="out of range"):
            dataset[bad]
    for bad in (1.0, "3", None, True):
        with pytest.raises(TypeError, match="integer"):
            dataset[bad]
    for kwargs, words in (({"size": 0}, "size"), ({"size": 10, "max_digits": 0}, "max_digits"),
                          ({"size": 10, "max_digits": 65}, "max_digits"), ({"size": 10, "seed": -1}, "seed"),
                          ({"size": 2.5}, "size"), ({"size": 10, "order": "middle"}, "order")):
        with pytest.raises(ValueError, match=words):
            nb["BinaryAdditionDataset"](**kwargs)
    with pytest.raises(ValueError, match="epoch"):
        dataset.set_epoch(-1)


@pytest.mark.parametrize("max_digits", [1, 4, 12])
def test_max_digits(nb, max_digits):
    dataset = nb["BinaryAdditionDataset"](size=400, max_digits=max_digits, order="msb", seed=9)
    longest = 0
    for index in range(400):
        pair, target = dataset[index]
        a = nb["bits_to_int"](pair[::-1, 0])
        longest = max(longest, a.bit_length())
        assert len(target) <= max_digits + 1
    assert longest == max_digits


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
    inputs, targets, _ = nb["collate_msb_first"](batch[:3], frame=20)
    assert inputs.shape == (3, 20, 2)
    with pytest.raises(ValueError, match="frame"):
        nb["collate_msb_first"](batch, frame=4)


def test_exact_sum_bits_matches_python_integers(nb):
    generator = torch.Generator().manual_seed(0)
    inputs, targets = nb["random_pairs"](200, 100, generator)
    for row in range(200):
        a = nb["bits_to_int"](inputs[row, :, 0].int().tolist())
        b = nb["bits_to_int"](inputs[row, :, 1].int().tolist())
        assert nb["bits_to_int"](targets[row].int().tolist()) == a + b


# --------------------------------------------------------- checking, deploying

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


class OracleAdder(torch.nn.Module):
    """Emits the exact sum, most significant digit first: a stand-in for a perfect Part 2 model."""

    def __init__(self, nb, wrong_position=None):
        super().__init__()
        self.nb, self.wrong_position = nb, wrong_position

    def generate(self, inputs):
        rows = []
        for pair in inputs:
            a = self.nb["bits_to_int"](pair[:, 0].flip(0).int().tolist())
            b = self.nb["bits_to_int"](pair[:, 1].flip(0).int().tolist())
            digits = self.nb["int_to_bits"](a + b, inputs.shape[1])
            if self.wrong_position is not None:
                digits[self.wrong_position] ^= 1
            rows.append(digits[::-1])
        return torch.tensor(rows, dtype=torch.float32)


def test_delayed_deployment_and_evaluation_on_known_answers(nb):
    perfect = OracleAdder(nb)
    for x, y in [(0, 0), (180, 23), (65535, 65535), (40000, 39999)]:
        total, x_bits, y_bits, out_bits = nb["add_numbers_delayed"](perfect, x, y)
        assert total == x + y and len(out_bits) == nb["FRAME"]
        assert nb["bits_to_int"](x_bits[::-1]) == x and nb["bits_to_int"](y_bits[::-1]) == y
        assert nb["digit_match_percent"](out_bits, x, y, order="msb") == 100.0

    dataset = nb["BinaryAdditionDataset"](size=400, order="msb", seed=11)
    batch = nb["collate_msb_first"]([dataset[i] for i in range(400)])
    result = nb["evaluate_delayed"](perfect, *batch)
    assert result["digit_accuracy"] == 1.0 and result["sequence_accuracy"] == 1.0
    # one wrong digit at significance 0 in every sum: every pair owns that digit
    flawed = nb["evaluate_delayed"](OracleAdder(nb, wrong_position=0), *batch)
    assert flawed["sequence_accuracy"] == 0.0 and flawed["digit_accuracy_by_position"][0] == 0.0
    assert flawed["digit_accuracy_by_position"][1:] == [1.0] * (nb["FRAME"] - 1)
    own = batch[2].sum().item()
    assert flawed["digit_accuracy"] == pytest.approx(1 - 400 / own)

    chance = nb["majority_accuracy_by_position"](batch[1], batch[2])
    assert len(chance) == nb["FRAME"] and all(0.5 <= c <= 1 for c in chance)
    assert abs(chance[0] - 0.5) < 0.08, "the last digit of a sum is a fair coin"
    assert chance[nb["FRAME"] - 1] > 0.7, "the final carry is mostly 0"


def test_smoke_trained_models_round_trip(nb, tmp_path):
    batches = 5 * nb["BATCH_SIZE"]
    loader = torch.utils.data.DataLoader(nb["BinaryAdditionDataset"](size=batches, seed=1),
                                         batch_size=nb["BATCH_SIZE"], collate_fn=nb["collate_lsb_first"])
    torch.manual_seed(0)
    history = nb["train"](nb["SynchronousAdder"](), loader, 2, 0.01, tmp_path / "part1.pt", desc=None)
    model, saved = nb["load_best"](nb["SynchronousAdder"], tmp_path / "part1.pt")
    assert saved["loss"] == pytest.approx(min(history)) and saved["epoch"] == int(np.argmin(history)) + 1
    for x, y in [(180, 23), (65535, 1), (7, 0)]:
        total, x_bits, y_bits, out_bits = nb["add_numbers"](model, x, y)
        exact = [(x + y) >> k & 1 for k in range(len(out_bits))]
        assert total == nb["bits_to_int"](out_bits)
        assert nb["digit_match_percent"](out_bits, x, y) == pytest.approx(
            100 * np.mean([p == e for p, e in zip(out_bits, exact)]))

    msb_loader = torch.utils.data.DataLoader(nb["BinaryAdditionDataset"](size=batches, order="msb", seed=2),
                                             batch_size=nb["BATCH_SIZE"], collate_fn=nb["collate_msb_first"])
    for cell, extra in (("rnn", False), ("gru", False), ("lstm", False), ("rnn", True)):
        path = tmp_path / f"part2_{cell}_{extra}.pt"
        torch.manual_seed(0)
        nb["train"](nb["DelayedAdder"](cell, hidden_size=16, extra_inputs=extra), msb_loader, 2, 1e-3, path, desc=None)
        model, saved = nb["load_best"](nb["DelayedAdder"], path)
        assert saved["config"] == {"cell": cell, "hidden_size": 16, "extra_inputs": extra, "recurrent_init": "shift"}
        x, y = 40000, 39999
        total, x_bits, y_bits, out_bits = nb["add_numbers_delayed"](model, x, y)
        exact = nb["int_to_bits"](x + y, nb["FRAME"])[::-1]
        assert total == nb["bits_to_int"](out_bits[::-1])
        assert nb["digit_match_percent"](out_bits, x, y, order="msb") == pytest.approx(
            100 * np.mean([p == e for p, e in zip(out_bits, exact)]))


# ------------------------------------------------------------ the Part 2 model

def test_question_model_is_part1_cell_with_two_inputs(nb):
    model = nb["DelayedAdder"]()
    assert isinstance(model.rnn, torch.nn.RNN) and model.rnn.nonlinearity == "relu"
    assert model.rnn.input_size == 2 and model.rnn.hidden_size == 100 and not model.extra_inputs
    inputs = torch.randint(0, 2, (5, nb["FRAME"], 2)).float()
    logits = model(inputs)
    assert logits.shape == (5, nb["FRAME"])
    assert torch.equal(logits, model(inputs, torch.ones(5, nb["FRAME"]))), "the targets are not fed in"
    assert torch.equal(model.generate(inputs), (logits > 0).float())
    # reading: the logits depend on every input pair, the first one included
    changed = inputs.clone()
    changed[:, 0] = 1 - changed[:, 0]
    model.readout.weight.data.fill_(1.0)
    assert not torch.equal(model(changed), model(inputs))


def test_shift_initialisation_is_a_delay_line(nb):
    model = nb["DelayedAdder"]("rnn", hidden_size=8, recurrent_init="shift")
    w = model.rnn.weight_hh_l0.detach()
    assert torch.equal(w, torch.roll(torch.eye(8), 1, 0))
    assert torch.allclose(w @ w.T, torch.eye(8)), "a permutation matrix is orthogonal"
    with torch.no_grad():  # write input 1 into unit 0 only, no biases: the value walks along the units
        model.rnn.weight_ih_l0.zero_()
        model.rnn.weight_ih_l0[0, 0] = 1.0
        model.rnn.bias_ih_l0.zero_()
        model.rnn.bias_hh_l0.zero_()
        pulse = torch.zeros(1, 6, 2)
        pulse[0, 0, 0] = 0.7
        states, _ = model.rnn(pulse)
    for step in range(6):
        expected = torch.zeros(8)
        expected[step] = 0.7
        assert torch.allclose(states[0, step], expected), "ReLU passes the shifted value unchanged"

    for cell, rows in (("gru", slice(16, 24)), ("lstm", slice(16, 24))):
        model = nb["DelayedAdder"](cell, hidden_size=8, recurrent_init="shift")
        assert torch.equal(model.rnn.weight_hh_l0[rows].detach(), torch.roll(torch.eye(8), 1, 0))
        bias = model.rnn.bias_hh_l0.detach()
        assert torch.all(bias[8:16] == -nb["GATE_BIAS"]), "update / forget gate starts closed"
        assert torch.all(bias[:8] == nb["GATE_BIAS"])
    torch.manual_seed(0)
    default = nb["DelayedAdder"]("rnn", hidden_size=8, recurrent_init="pytorch").rnn.weight_hh_l0
    assert default.abs().max() <= 8 ** -0.5 and not torch.equal(default, torch.roll(torch.eye(8), 1, 0))
    orthogonal = nb["DelayedAdder"]("rnn", hidden_size=8, recurrent_init="orthogonal").rnn.weight_hh_l0.detach()
    assert torch.allclose(orthogonal @ orthogonal.T, torch.eye(8), atol=1e-5)


def test_extra_inputs_extension_feeds_back_its_own_digit(nb):
    torch.manual_seed(0)
    model = nb["DelayedAdder"]("rnn", hidden_size=12, extra_inputs=True).eval()
    assert model.rnn.input_size == 4
    inputs = torch.randint(0, 2, (4, nb["FRAME"], 2)).float()
    generated = model.generate(inputs)
    # teacher forcing with the model's own digits as targets gives back the same digits
    assert torch.equal((model(inputs, generated) > 0).float(), generated)


def test_training_calls_set_epoch(nb, tmp_path):
    class Recording(nb["BinaryAdditionDataset"]):
        epochs = []

        def set_epoch(self, epoch):
            self.epochs.append(epoch)
            super().set_epoch(epoch)

    data = Recording(size=2 * nb["BATCH_SIZE"], order="msb", seed=0)
    loader = torch.utils.data.DataLoader(data, batch_size=nb["BATCH_SIZE"], collate_fn=nb["collate_msb_first"])
    nb["train"](nb["DelayedAdder"](hidden_size=8), loader, 3, 1e-3, tmp_path / "x.pt", desc=None)
    assert Recording.epochs == [0, 1, 2]


# -------------------------------------------------------------- bad input

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
    with pytest.raises(ValueError, match="cell"):
        nb["DelayedAdder"]("transformer")
    with pytest.raises(ValueError, match="recurrent_init"):
        nb["DelayedAdder"]("rnn", recurrent_init="zeros")
    with pytest.raises(ValueError, match="hidden_size"):
        nb["DelayedAdder"]("rnn", hidden_size=0)
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


# ---------------------------------------------- the text against the numbers

def markdown_cells():
    notebook = nbformat.read(REPO / "notebooks" / NOTEBOOK, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]


def test_markdown_quotes_no_measured_numbers():
    """Measured numbers (accuracies, times, activations) are printed by code, never typed into the text."""
    measured = re.compile(r"\d[\d.,]*\s*(%|percent|s\b|seconds|minutes|min\b)|\d+\.\d+")
    for source in markdown_cells():
        text = re.sub(r"\$[^$]*\$", "", source)  # formulas are not measurements
        assert not measured.search(text), f"a measured number in the text: {measured.search(text).group(0)!r}"
    joined = "\n".join(markdown_cells())
    for stale in ("towards chance", "25 minutes", "99.89", "earlier run"):
        assert stale not in joined


def test_committed_metrics_keep_their_keys_and_meet_the_targets():
    metrics = committed_metrics("binary_addition")
    assert {"train_seconds", "eval_pairs", "part1", "part2_epochs", "part2"} <= set(metrics)
    assert set(metrics["part2"]) >= {"rnn", "gru", "lstm"}
    for entry in metrics["part2"].values():
        assert {"digit_accuracy", "sequence_accuracy", "digit_accuracy_by_position"} <= set(entry)
        # a whole sum is right only if its last digit, which every pair owns, is
        assert entry["sequence_accuracy"] <= entry["digit_accuracy_by_position"][0] + 1e-9
    part1 = metrics["part1"]
    assert part1["digit_accuracy"] >= 0.999 and part1["hand_built_sequence_accuracy_256"] == 1.0
    if "part2_memory_study" not in metrics:
        pytest.skip("the committed metrics are older than the memory study: re-run the notebook")
    study = metrics["part2_memory_study"]
    cells = {(row["cell"], row["hidden_size"], row["max_digits"]) for row in study["grid"]}
    assert cells == {(c, h, d) for c in study["cells"] for h in study["hidden_sizes"] for d in study["max_digits"]}
    if metrics["profile"] == "full":
        assert study["max_digits"] == [4, 8, 12, 16] and study["hidden_sizes"] == [25, 50, 100, 200]
        assert set(study["cells"]) == {"rnn", "gru"}
        assert metrics["part2_epochs"] == 100
        assert metrics["part2"]["rnn"]["digit_accuracy"] >= 0.95, "the question's model: target >= 95%"
        assert metrics["part2"]["gru"]["digit_accuracy"] >= 0.99, "the GRU extension: target >= 99%"


def load_ablation_tool():
    spec = importlib.util.spec_from_file_location("binary_part2_ablation", REPO / "tools" / "binary_part2_ablation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ablation_levers_build_and_train_a_step(nb):
    tool = load_ablation_tool()
    inputs = targets = None
    for name, (description, options) in tool.RUNS.items():
        model, loader = tool.build(nb, options, seed=0)
        assert model.rnn.hidden_size == 100 and isinstance(model.readout, torch.nn.Linear), name
        loader.dataset.set_epoch(0)
        inputs, targets, lengths = next(iter(loader))
        assert inputs.shape[1:] == (nb["FRAME"], 2), name
        logits = model(inputs, targets)
        assert logits.shape == targets.shape, name
        torch.nn.BCEWithLogitsLoss()(logits, targets).backward()
        model.eval()
        assert model.generate(inputs).shape == (inputs.shape[0], nb["FRAME"]), name
    curriculum = tool.CurriculumDataset(nb)(size=10, order="msb", seed=0)
    curriculum.ramp_epochs = 10
    seen = []
    for epoch in (0, 5, 10, 50):
        curriculum.set_epoch(epoch)
        seen.append(curriculum.max_digits)
    assert seen == [2, 9, 16, 16]


def test_committed_ablation_file_matches_the_tool_and_the_text():
    path = TOPIC_DIR / "part2_ablation.json"
    if not path.exists():
        pytest.skip("no committed ablation file (make binaryablation)")
    record = json.loads(path.read_text())
    tool = load_ablation_tool()
    assert record["command"] == "make binaryablation"
    assert set(record["descriptions"]) <= set(tool.RUNS)
    runs = {(r["name"], r["seed"], r["epochs"]): r for r in record["runs"]}
    for name in ("plain", "shift"):
        for seed in tool.SEEDS[name]:
            assert (name, seed, tool.SHORT_EPOCHS) in runs
        assert (name, 0, tool.FULL_EPOCHS) in runs
    # the claim the notebook builds on: the shift start beats PyTorch's default, at both budgets
    for epochs in (tool.SHORT_EPOCHS, tool.FULL_EPOCHS):
        assert runs[("shift", 0, epochs)]["digit_accuracy"] > runs[("plain", 0, epochs)]["digit_accuracy"]
    assert runs[("shift", 0, tool.FULL_EPOCHS)]["digit_accuracy"] >= 0.95


# ------------------------------------------------------- the smoke-profile run

def check_smoke_run(metrics: dict, root) -> None:
    """What a smoke run of the notebook must record (called by tests/test_notebook_runs.py)."""
    executed = root / "executed" / "binary_addition_rnn-seed0.ipynb"
    if executed.exists():
        notebook = nbformat.read(executed, as_version=4)
        streams = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code"
                          for o in c.get("outputs", []) if o.get("output_type") == "stream")
        assert "Warning" not in streams and "Traceback" not in streams
    assert metrics["profile"] == "smoke" and metrics["train_seconds"] > 0
    part1 = metrics["part1"]
    assert part1["hand_built_sequence_accuracy_256"] == 1.0  # the exact construction is exact
    assert part1["sequence_accuracy"] <= part1["digit_accuracy"]
    assert set(part1["sequence_accuracy_by_digits"]) == {"16", "32", "64", "128", "256"}
    assert set(metrics["part2"]) == {"rnn", "gru", "lstm"}
    for entry in [*metrics["part2"].values(), metrics["part2_extra_inputs"]]:
        assert len(entry["digit_accuracy_by_position"]) == 17
        assert entry["sequence_accuracy"] <= entry["digit_accuracy_by_position"][0] + 1e-9
    chance = metrics["part2_chance_by_position"]
    assert abs(chance[0] - 0.5) < 0.1 and chance[16] > 0.7
    study = metrics["part2_memory_study"]
    assert [(r["cell"], r["hidden_size"], r["max_digits"]) for r in study["grid"]] == [
        (c, h, d) for c in study["cells"] for h in study["hidden_sizes"] for d in study["max_digits"]]
    for row in study["grid"]:
        assert len(row["digit_accuracy_by_position"]) == row["max_digits"] + 1
    figures = {p.name for p in (root / "figures" / "binary_addition").iterdir()}
    assert figures == {"metrics.json", "part1_loss.png", "part2_loss.png", "part2_loss_all.png",
                       "part2_accuracy_by_position.png", "part2_accuracy_by_position_all.png",
                       "part2_memory_study.png"}
    build = root / "build" / "binary_addition"
    assert {p.name for p in build.glob("*.pt")} == {"part1_best.pt", "part2_rnn_best.pt", "part2_gru_best.pt",
                                                     "part2_lstm_best.pt", "part2_rnn_extra_inputs_best.pt"}
    assert len(list((build / "memory_study").glob("*.pt"))) == len(study["grid"])
