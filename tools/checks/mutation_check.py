"""Mutation check: put one plausible bug at a time into a copy of the project
and run the tests that should catch it; report the mutations that survive.

    python tools/checks/mutation_check.py            # every mutation below
    python tools/checks/mutation_check.py --list     # names only
    python tools/checks/mutation_check.py NAME ...   # some of them
    make mutation-check

Each mutation replaces one exact piece of source (it must occur exactly once
in its file, so a stale mutation fails loudly instead of testing nothing) in a
copy of the repository under a temporary folder; the committed files are never
touched. The tests must first pass on an unmutated copy (the control); then a
mutation is "killed" when its tests fail, "survived" when they pass.
Exit status 1 when any mutation survives.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import manifest  # noqa: E402


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str      # repository-relative file (a notebook: its code cells are searched)
    old: str       # exact text, present exactly once
    new: str
    tests: tuple   # pytest node ids or files, relative to the repository


def graded_notebook(topic: str) -> str:
    """notebooks/<stem>.ipynb of the graded notebook that writes figures/<topic>/ (bundle.toml)."""
    return f"notebooks/{next(nb.stem for nb in manifest.load().graded if nb.topic == topic)}.ipynb"


BINARY, GAN, SENTIMENT = graded_notebook("binary_addition"), graded_notebook("gan"), graded_notebook("sentiment")
HWCOMMON = "notebooks/hwcommon.py"  # the shared library every notebook embeds (`make sync`)
TB, TG, TS = "tests/test_binary_addition.py::", "tests/test_gan.py::", "tests/test_sentiment.py::"

MUTATIONS = [
    # the seven bugs that once passed every test
    Mutation("binary: a padding digit is counted", BINARY,
             "own_digits = position < lengths[:, None]", "own_digits = position <= lengths[:, None]",
             (TB + "test_accuracy_counts_each_pairs_own_digits_not_the_batch_padding",)),
    Mutation("binary: the best checkpoint is the last one", BINARY,
             "if history[-1] < best_loss:", "if True:",
             (TB + "test_train_saves_the_best_epoch_not_the_last",)),
    Mutation("gan: the EMA generator is never updated", GAN,
             "p_ema.lerp_(p, 1 - decay)", "pass",
             (TG + "test_ema_generator_matches_its_closed_form",)),
    Mutation("gan: D's LSGAN targets swapped", GAN,
             "return ((real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean()) / 2",
             "return (real_logits.pow(2).mean() + (fake_logits - 1).pow(2).mean()) / 2",
             (TG + "test_losses_on_hand_computed_logits",)),
    Mutation("gan: conditional labels in reverse order", GAN,
             "labels[start:start + len(noise)].to(device, torch.long)",
             "labels.flip(0)[start:start + len(noise)].to(device, torch.long)",
             (TG + "test_conditional_generate_keeps_the_label_order",)),
    Mutation("sentiment: the GRU head reads the first layer", SENTIMENT,
             "hidden[-2], hidden[-1]", "hidden[0], hidden[1]",
             (TS + "test_gru_head_reads_the_last_layer_of_both_directions",)),
    Mutation("sentiment: the best checkpoint is not restored", SENTIMENT,
             "model.load_state_dict(torch.load(checkpoint, weights_only=True), strict=False)",
             "pass",
             (TS + "test_fit_keeps_the_best_epoch_when_the_last_is_worse",)),
    # the device policy (a CUDA run would crash on these; the CPU does not notice)
    Mutation("gan: samples stay on the device", HWCOMMON,
             "return to_host(images.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).reshape(-1, 28, 28))",
             "return images.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).reshape(-1, 28, 28)",
             (TG + "test_samples_and_plots_reach_the_host_from_a_device",)),
    Mutation("gan: a plot reads a device tensor", HWCOMMON,
             'ax.imshow(to_numpy(grid[0]), cmap="gray")', 'ax.imshow(grid[0], cmap="gray")',
             (TG + "test_samples_and_plots_reach_the_host_from_a_device",)),
    Mutation("sentiment: a batch is fed to the model where it was loaded", SENTIMENT,
             "logits.append(hw.to_host(model(run.to_device(inputs))).float())",
             "logits.append(hw.to_host(model(inputs)).float())",
             (TS + "test_models_and_batches_meet_on_the_device_and_results_come_back_to_the_host",)),
    # input checks and metrics
    Mutation("gan: a diverged generator returns images", HWCOMMON,
             "    if not torch.isfinite(images).all():\n        raise ValueError(\"G:",
             "    if False:\n        raise ValueError(\"G:",
             (TG + "test_train_gan_and_generate_refuse_bad_input",)),
    Mutation("gan: coverage counted over the fakes", HWCOMMON,
             "inside.any(dim=0).float().mean().item()", "inside.any(dim=1).float().mean().item()",
             (TG + "test_density_coverage_on_a_hand_checked_case",)),
    Mutation("gan: FID's cross term without its square root (singular-value path)", HWCOMMON,
             "root_trace = torch.linalg.svdvals(a_r @ a_f.T).sum()",
             "root_trace = torch.linalg.svdvals(a_r @ a_f.T).square().sum()",
             (TG + "test_frechet_distance_by_hand_and_against_torchmetrics",)),
    Mutation("gan: a negative generator learning rate is accepted", HWCOMMON,
             '"lr_g": (number(recipe.lr_g) and recipe.lr_g > 0', '"lr_g": (True',
             (TG + "test_recipe_refuses_bad_settings_naming_the_field",)),
]


def _copy_repo(target: Path) -> None:
    ignore = shutil.ignore_patterns(".venv", "build", "data", ".git", "__pycache__", ".pytest_cache")
    shutil.copytree(REPO, target, ignore=ignore, symlinks=True)
    (target / "data").symlink_to(REPO / "data")  # datasets are read, never written, by these tests
    (target / ".venv").symlink_to(REPO / ".venv")


def _apply(root: Path, m: Mutation) -> None:
    path = root / m.path
    if path.suffix == ".ipynb":  # the graded code cells (not the embedded hwcommon, which `make sync` rewrites)
        nb = nbformat.read(path, as_version=4)
        hits = [c for c in nb.cells if c.cell_type == "code" and m.old in c.source and c.get("id") != "hwcommon"]
        count = sum(c.source.count(m.old) for c in hits)
        if count != 1:
            raise SystemExit(f"mutation {m.name!r}: {m.old!r} occurs {count} times in the code cells of {m.path}")
        hits[0].source = hits[0].source.replace(m.old, m.new)
        nbformat.write(nb, path)
    else:
        text = path.read_text()
        if text.count(m.old) != 1:
            raise SystemExit(f"mutation {m.name!r}: {m.old!r} occurs {text.count(m.old)} times in {m.path}")
        path.write_text(text.replace(m.old, m.new))
    # every notebook embeds hwcommon and a companion carries the graded library cells: mutate their copies too
    subprocess.run([sys.executable, "tools/sync_notebooks.py"], cwd=root, check=True, stdout=subprocess.DEVNULL)


def _pytest(root: Path, tests) -> subprocess.CompletedProcess:
    env = {**os.environ, "HW_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                          cwd=root, env=env, capture_output=True, text=True)


def control(chosen: list, workdir: Path) -> None:
    """The chosen tests pass on an unmutated copy: otherwise a "killed" would mean nothing."""
    root = workdir / "repo"
    _copy_repo(root)
    tests = list(dict.fromkeys(t for m in chosen for t in m.tests))
    proc = _pytest(root, tests)
    if proc.returncode != 0:
        raise SystemExit(f"the tests fail without any mutation:\n{proc.stdout[-3000:]}")
    shutil.rmtree(root)
    print(f"control: the {len(tests)} tests pass on the unmutated copy", flush=True)


def run_one(m: Mutation, workdir: Path) -> dict:
    root = workdir / "repo"
    if root.exists():
        shutil.rmtree(root)
    _copy_repo(root)
    _apply(root, m)
    started = time.perf_counter()
    proc = _pytest(root, m.tests)
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    return {"mutation": m.name, "killed": proc.returncode != 0,
            "by": failed[0][len("FAILED "):].split(" - ")[0] if failed else None,
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args()
    if args.list:
        print("\n".join(m.name for m in MUTATIONS))
        return
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        raise SystemExit(f"unknown mutation(s): {', '.join(sorted(unknown))}; see --list")
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    results = []
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        control(chosen, Path(tmp))
        for m in chosen:
            result = run_one(m, Path(tmp))
            results.append(result)
            verdict = f"killed by {result['by']}" if result["killed"] else "SURVIVED"
            print(f"{m.name:50} {verdict} ({result['seconds']} s)", flush=True)
    survivors = [r["mutation"] for r in results if not r["killed"]]
    print(json.dumps({"mutations": len(results), "survived": survivors}))
    sys.exit(1 if survivors else 0)


if __name__ == "__main__":
    main()
