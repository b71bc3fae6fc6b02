"""Part 2 of the binary-addition notebook (UArk HW2 Q4): which levers move the
question's model, Part 1's ReLU RNN with two input units and 100 hidden units,
reading both numbers most significant digit first and then emitting the sum.

    make binaryablation                       # every run below -> figures/binary_addition_rnn_beyond/part2_ablation.json
    .venv/bin/python tools/bench/binary_part2_ablation.py --jobs 2 --only plain shift

Every run trains the question's model with the homework notebook's own train()
and BinaryAdditionDataset (binary_addition_rnn.ipynb's cells tagged "library",
then those of its companion binary_addition_rnn_beyond.ipynb, whose
ExtendedAdder gives the other starting points of the recurrent weights; both
through tools/notebook_code.py), at one torch thread per run, and scores it on
fresh pairs the way the notebooks do. Three levers that the recipe does not use
are built here on top of those classes: a curriculum over operand length, an
auxiliary target for the reading phase and layer normalisation inside the cell.
The companion prints the table from the JSON file; rerun this after changing the
Part 2 code.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "figures" / "binary_addition_rnn_beyond" / "part2_ablation.json"
SHORT_EPOCHS, FULL_EPOCHS = 20, 100  # epochs of 100 iterations x 128 pairs; 100 is the question's budget
EVAL_PAIRS = 10_000
sys.path.insert(0, str(REPO / "notebooks"))  # hwcommon, which the notebook's cells import
sys.path.insert(0, str(REPO))

# name: (what changes, options). Options not given are the plain run's: PyTorch's
# initialisation, the notebook's peak learning rate for the RNN (1e-3) with its
# cosine decay, clipping at 1.
RECIPE = {"recurrent_init": "shift"}
RUNS = {
    "plain": ("the question's model trained as in Part 1 (PyTorch's initialisation)", {}),
    "orthogonal": ("recurrent weights start as a random orthogonal matrix", {"recurrent_init": "orthogonal"}),
    "identity": ("recurrent weights start as the identity (IRNN)", {"recurrent_init": "identity"}),
    "curriculum": ("curriculum: operands of at most 2 digits, growing to 16 over the first half",
                   {"curriculum": True}),
    "shift": ("recurrent weights start as a cyclic shift (the notebook's recipe)", RECIPE),
    "shift_no_clip": ("recipe without gradient clipping", {**RECIPE, "clip": None}),
    "shift_constant_lr": ("recipe with a constant learning rate (no cosine decay)", {**RECIPE, "schedule": "constant"}),
    "shift_one_cycle": ("recipe with a one-cycle schedule (warm-up, then anneal)", {**RECIPE, "schedule": "one-cycle"}),
    "shift_lr_3e-3": ("recipe with a peak learning rate of 3e-3", {**RECIPE, "learning_rate": 3e-3}),
    "shift_curriculum": ("recipe + the curriculum over operand length", {**RECIPE, "curriculum": True}),
    "shift_aux": ("recipe + an auxiliary target while reading (the sum digit of the position read)",
                  {**RECIPE, "aux": True}),
    "shift_layer_norm": ("recipe + layer normalisation inside the cell", {**RECIPE, "layer_norm": True}),
}
SEEDS = {"plain": (0, 1, 2), "shift": (0, 1, 2)}  # the rest: seed 0
FULL_BUDGET = ("plain", "shift")  # also trained for the question's 100 epochs (seed 0)


def load_notebook() -> dict:
    """The library cells of the homework notebook, then those of its companion on top (as the
    companion runs them: after its copy of the homework's cells)."""
    from tools import notebook_code
    graded = notebook_code.load("binary_addition_rnn")
    return notebook_code.load("binary_addition_rnn_beyond",
                              **{name: value for name, value in graded.items() if not name.startswith("__")})


def schedule_factory(name: str, learning_rate: float):
    """The learning-rate schedule of a lever, as train() takes it (None: its cosine decay)."""
    import torch
    if name == "constant":
        return lambda optimizer, steps, eta_min: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if name == "one-cycle":
        return lambda optimizer, steps, eta_min: torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=learning_rate, total_steps=steps)
    if name != "cosine":
        raise ValueError(f"schedule must be 'cosine', 'constant' or 'one-cycle', got {name!r}")
    return None


def build(nb: dict, options: dict, seed: int):
    """The model, the training set and its loader for one run."""
    import functools

    import torch

    import hwcommon as hw

    torch.manual_seed(hw.derive_seed(seed, "ablation", "init"))
    init = options.get("recurrent_init", "pytorch")
    if options.get("layer_norm"):
        model = LayerNormAdder(nb, init)
    elif options.get("aux"):
        model = AuxiliaryTargetAdder(nb, init)
    else:
        model = nb["ExtendedAdder"]("rnn", 100, recurrent_init=init)
    dataset_class = CurriculumDataset(nb) if options.get("curriculum") else nb["BinaryAdditionDataset"]
    dataset = dataset_class(size=nb["ITERATIONS_PER_EPOCH"] * nb["BATCH_SIZE"], order="msb",
                            seed=hw.derive_seed(seed, "ablation", "data"))
    collate = nb["collate_msb_first"]
    if options.get("aux"):
        collate = functools.partial(collate_with_read_targets, collate)
    loader = torch.utils.data.DataLoader(dataset, batch_size=nb["BATCH_SIZE"], collate_fn=collate)
    return model, loader


def CurriculumDataset(nb):
    """The notebook's dataset whose operand length grows with the epoch (fixed frame of 17)."""
    base = nb["BinaryAdditionDataset"]

    class Curriculum(base):
        ramp_epochs = 1

        def set_epoch(self, epoch):
            super().set_epoch(epoch)
            full = nb["MAX_DIGITS"]
            self.max_digits = min(full, 2 + (full - 2) * epoch // max(1, self.ramp_epochs))

    return Curriculum


def collate_with_read_targets(collate, batch):
    """Targets for all 34 steps: while reading, the sum digit of the position being read."""
    import torch
    inputs, targets, lengths = collate(batch)
    return inputs, torch.cat([targets, targets], dim=1), lengths


def AuxiliaryTargetAdder(nb, init):
    """The question's model with a second read-out that, at every reading step, predicts
    the sum digit of the position just read (which the lower digits, not read yet,
    can still flip through the carry). The emitting phase is unchanged."""
    import torch
    from torch import nn

    class Aux(nb["ExtendedAdder"]):
        def __init__(self):
            super().__init__("rnn", 100, recurrent_init=init)
            self.read_head = nn.Linear(100, 1)

        def forward(self, inputs):
            outputs, _ = self.rnn(torch.cat([inputs, torch.zeros_like(inputs)], dim=1))
            frame = inputs.shape[1]
            emit = self.readout(outputs[:, frame:]).squeeze(-1)
            if not self.training:
                return emit
            return torch.cat([self.read_head(outputs[:, :frame]).squeeze(-1), emit], dim=1)

    return Aux()


def LayerNormAdder(nb, init):
    """The question's model with h_t = ReLU(LayerNorm(W_x x_t + W_h h_{t-1} + b)), one step at a time."""
    import torch
    from torch import nn

    class LayerNormRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.RNN(2, 100, nonlinearity="relu", batch_first=True)  # holds the weights
            self.norm = nn.LayerNorm(100)
            self.hidden_size = 100

        def forward(self, inputs):
            w_x, w_h = self.inner.weight_ih_l0, self.inner.weight_hh_l0
            bias = self.inner.bias_ih_l0 + self.inner.bias_hh_l0
            drive = inputs @ w_x.T + bias
            state, states = torch.zeros(inputs.shape[0], 100), []
            for step in range(inputs.shape[1]):
                state = torch.relu(self.norm(drive[:, step] + state @ w_h.T))
                states.append(state)
            return torch.stack(states, dim=1), state

    class Normed(nb["ExtendedAdder"]):
        def __init__(self):
            super().__init__("rnn", 100, recurrent_init=init)
            cell = LayerNormRNN()
            cell.inner.load_state_dict(self.rnn.state_dict())
            self.rnn = cell

    return Normed()


def one_run(name: str, seed: int, epochs: int) -> dict:
    import torch
    torch.set_num_threads(1)
    import tempfile

    import hwcommon as hw

    nb = load_notebook()
    description, options = RUNS[name]
    model, loader = build(nb, options, seed)
    if options.get("curriculum"):
        loader.dataset.ramp_epochs = epochs // 2
    learning_rate = options.get("learning_rate", nb["PART2_LEARNING_RATE"])
    train_options = {"schedule": schedule_factory(options.get("schedule", "cosine"), learning_rate)}
    if "clip" in options:
        train_options["clip"] = options["clip"]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        history = nb["train"](model, loader, epochs, learning_rate, Path(folder) / "best.pt",
                              desc=f"{name} seed {seed}", **train_options)
        checkpoint = torch.load(Path(folder) / "best.pt", weights_only=True)
    seconds = time.perf_counter() - started
    if not options.get("curriculum"):  # the homework's choice: the epoch with the lowest mean loss
        model.load_state_dict(checkpoint["state_dict"])
    # (under a curriculum the short operands of the early epochs give the lowest losses, so the
    # lowest-loss epoch is not the best model: the final one is scored instead)
    model.eval()
    eval_set = nb["BinaryAdditionDataset"](size=EVAL_PAIRS, order="msb", seed=hw.derive_seed(seed, "ablation", "eval"))
    batch = nb["collate_msb_first"]([eval_set[i] for i in range(EVAL_PAIRS)])
    result = nb["evaluate_delayed"](model, *batch)
    print(f"{name:18s} seed {seed} {epochs:3d} epochs: digit {result['digit_accuracy']:.2%}, "
          f"whole sums {result['sequence_accuracy']:.2%} ({seconds:.0f} s)", flush=True)
    return {"name": name, "seed": seed, "epochs": epochs, "digit_accuracy": result["digit_accuracy"],
            "sequence_accuracy": result["sequence_accuracy"],
            "lsb_accuracy": result["digit_accuracy_by_position"][0],
            "scored": "final epoch" if options.get("curriculum") else "lowest-loss epoch",
            "best_epoch_loss": min(history), "train_seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (each on one thread)")
    parser.add_argument("--only", nargs="+", choices=sorted(RUNS), help="a subset of the runs (merged into the file)")
    parser.add_argument("--no-full", action="store_true", help="skip the runs at the question's full budget")
    args = parser.parse_args()
    names = args.only or list(RUNS)
    jobs = [(n, s, SHORT_EPOCHS) for n in names for s in SEEDS.get(n, (0,))]
    if not args.no_full:
        jobs += [(n, 0, FULL_EPOCHS) for n in names if n in FULL_BUDGET]
    jobs.sort(key=lambda job: -job[2])  # the long ones first
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["HW_UNATTENDED"] = "1"  # progress bars print one line each
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one_run, *zip(*jobs)))

    previous = json.loads(OUT.read_text()) if OUT.exists() and args.only else {"runs": []}
    fresh = {(r["name"], r["seed"], r["epochs"]) for r in results}
    runs = [r for r in previous["runs"] if (r["name"], r["seed"], r["epochs"]) not in fresh] + results
    order = list(RUNS)
    runs.sort(key=lambda r: (-r["epochs"], order.index(r["name"]), r["seed"]))
    import torch
    record = {
        "command": "make binaryablation",
        "model": "ReLU RNN, 2 inputs, 100 hidden units, read 17 steps then emit 17 (the question's model)",
        "defaults": "PyTorch's initialisation, Adam, peak learning rate 1e-3, cosine decay to a tenth, "
                    "gradient-norm clipping at 1, batch 128, 100 iterations per epoch",
        "short_epochs": SHORT_EPOCHS, "full_epochs": FULL_EPOCHS, "eval_pairs": EVAL_PAIRS,
        "descriptions": {name: description for name, (description, _) in RUNS.items()},
        "compared_with": {name: ("shift" if name.startswith("shift_") else "plain")
                          for name in RUNS if name not in ("plain",)},
        "runs": runs,
        "threads_per_run": 1, "torch": torch.__version__,
        "wall_seconds_last_invocation": round(time.perf_counter() - started, 1),
    }
    import hwcommon as hw
    hw.atomic_write_text(OUT, json.dumps(record, indent=1) + "\n")
    short = [r for r in runs if r["epochs"] == SHORT_EPOCHS]
    for name in order:
        values = [r["digit_accuracy"] for r in short if r["name"] == name]
        if values:
            print(f"{name:18s} digit accuracy {statistics.fmean(values):.2%} over {len(values)} seed(s)")
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
