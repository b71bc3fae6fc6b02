"""Each notebook, run for real in the smoke profile, in separate processes:

1. copied alone into an empty folder and executed with `jupyter nbconvert`
   (no hwcommon.py beside it, no data/, no HW_ROOT: it must stand alone);
2. executed again by tools/run_notebook.py with the same seed and that folder
   as its root, so it finds the first run's caches (the GAN's classifiers):
   the metrics must be identical apart from timings, caches or not. For the
   sentiment notebook this run uses the oldest transformers release it
   supports (tests/test_transformers_versions.py installs it), run 1 the
   pinned one: the same numbers at both ends of the supported range. The
   notebooks whose options say one_run skip run 2 (their smoke run is checked on run 1);
3. for the notebooks whose options say seed_1_run (the publishing code is hwcommon's and the
   runner's, the same for every notebook, so the quickest notebook stands for
   all): a run with HW_SEED=1 is stopped with SIGTERM midway: the runner
   reports the cell and exits non-zero, and the outputs of run 2 stay exactly
   as they were (nothing of the stopped run is published, then or later);
   then a HW_SEED=1 run completes: its metrics differ from run 2's, and its
   outputs replace run 2's as a whole.

Run 2 is also the smoke run whose content each notebook's own test module
checks: its `check_smoke_run(metrics, root)` (`check_smoke_run_beyond` for a
companion), when it defines one (root holds
run 1's `executed.ipynb` and run 2's `executed/<notebook>-seed0.ipynb`).

The notebooks are bundle.toml's; each one's test module (its `tests` there)
may set options for these runs in SMOKE_RUNS = {stem: {option: True}}:
one_run, seed_1_run, oldest_transformers, and first (start it before the
others: the longest runs first, see conftest.LONGEST_FIRST).
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from conftest import REPO, execute_in_place, without_timings

PY = sys.executable
sys.path.insert(0, str(REPO / "tools"))
import manifest  # noqa: E402

BUNDLE = manifest.load()
NOTEBOOKS = {nb.stem: nb.topic for nb in BUNDLE.notebooks}  # each notebook and the figures/<topic>/ it writes
TEST_MODULES = {nb.stem: Path(nb.tests).stem for nb in BUNDLE.notebooks if nb.tests}


def options(stem: str) -> dict:
    """The options its own test module sets for this notebook's runs (SMOKE_RUNS)."""
    module = TEST_MODULES.get(stem)
    return getattr(importlib.import_module(module), "SMOKE_RUNS", {}).get(stem, {}) if module else {}


def smoke_check(stem: str):
    """The notebook's own test module's check of its smoke run: check_smoke_run for a
    graded notebook, check_smoke_run_beyond for its companion (None when undefined)."""
    name = "check_smoke_run" if BUNDLE.notebook(stem).graded else "check_smoke_run_beyond"
    return getattr(importlib.import_module(TEST_MODULES[stem]), name, None) if stem in TEST_MODULES else None


def smoke_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HW_")}
    env.update(HW_PROFILE="smoke", HW_OFFLINE="1", HW_THREADS="1", HW_UNATTENDED="1")
    env.update(extra)
    return env


def snapshot(*folders: Path) -> dict:
    """{relative path: sha256} of every file under the folders."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                found[str(path.relative_to(folder.parent.parent))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def run_alone(stem: str, folder: Path) -> dict:
    folder.mkdir()
    shutil.copy(REPO / "notebooks" / f"{stem}.ipynb", folder)
    proc = execute_in_place(folder / f"{stem}.ipynb", smoke_env(HW_SEED="0"))
    assert proc.returncode == 0, f"{stem} does not run alone:\n{proc.stderr[-3000:]}"
    assert {p.name for p in folder.iterdir() if p.suffix == ".ipynb"} == {"executed.ipynb", f"{stem}.ipynb"}
    return json.loads((folder / "figures" / NOTEBOOKS[stem] / "metrics.json").read_text())


def runner(stem: str, root: Path, seed: int, **extra) -> subprocess.Popen:
    return subprocess.Popen([PY, str(REPO / "tools/run_notebook.py"), str(REPO / "notebooks" / f"{stem}.ipynb"),
                             str(root / "executed" / f"{stem}-seed{seed}.ipynb")],
                            env=smoke_env(HW_SEED=str(seed), HW_ROOT=str(root), HW_DATA_DIR=str(REPO / "data"), **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_to_end(stem: str, root: Path, seed: int, **extra) -> dict:
    proc = runner(stem, root, seed, **extra)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, f"{stem} (seed {seed}) failed:\n{err[-3000:]}"
    return json.loads((root / "figures" / NOTEBOOKS[stem] / "metrics.json").read_text())


def staged_files(root: Path, topic: str) -> list:
    staging = root / "build" / ".staging"
    return [p for p in staging.glob(f"{topic}-*/**/*") if p.is_file()] if staging.exists() else []


# the longest runs first (see conftest.LONGEST_FIRST): those marked first, then bundle.toml's order
BY_RUN_TIME = sorted(NOTEBOOKS, key=lambda stem: not options(stem).get("first"))


@pytest.mark.parametrize("stem", BY_RUN_TIME)
def test_notebook_alone_same_seed_same_numbers_and_stopped_runs_publish_nothing(stem, tmp_path):
    topic = NOTEBOOKS[stem]
    root = tmp_path / "alone"
    alone = run_alone(stem, root)
    if options(stem).get("one_run"):
        smoke_check(stem)(alone, root)
        return

    extra = {}
    if options(stem).get("oldest_transformers"):
        from test_transformers_versions import OLDEST, NotInstallable, installed, seen_version
        try:
            extra = {"PYTHONPATH": str(installed(OLDEST))}
        except NotInstallable as reason:  # no package index: run 2 with the pinned release, as run 1
            warnings.warn(f"run 2 of {stem} uses the pinned transformers: {reason}")
        else:
            assert seen_version(smoke_env(**extra)) == OLDEST["transformers"]
    first = run_to_end(stem, root, seed=0, **extra)
    assert first["seed"] == 0 and first["profile"] == "smoke"
    # where the data was found (data/ or the Debian copy, when another test filled data/ meanwhile)
    # names a folder, not a number: the same files either way
    numbers = lambda metrics: {k: v for k, v in without_timings(metrics).items() if k not in ("data_source", "source")}  # noqa: E731
    assert numbers(first) == numbers(alone), f"{stem}: two runs with HW_SEED=0 gave different metrics{' (transformers: oldest and pinned)' if extra else ''}"
    check = smoke_check(stem)
    if check is not None:
        check(first, root)
    published = (root / "figures" / topic, root / "build" / topic)
    before = snapshot(*published)
    assert "figures/" + topic + "/metrics.json" in before

    if not options(stem).get("seed_1_run"):
        return

    # stop a seed-1 run as soon as it has written something into its staging folder
    proc = runner(stem, root, seed=1)
    deadline = time.monotonic() + 600
    while not staged_files(root, topic) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, f"{stem} ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    failed = [line for line in err.splitlines() if line.startswith("FAILED:")]
    assert len(failed) == 1 and "interrupted by SIGTERM in cell" in failed[0], err[-2000:]
    assert "run_notebook.py" not in err, f"the runner crashed while stopping:\n{err[-2000:]}"
    time.sleep(2)  # a kernel left running would go on and publish
    assert snapshot(*published) == before, f"{stem}: a stopped run changed the published outputs"
    assert not (root / "executed" / f"{stem}-seed1.ipynb").exists()

    second = run_to_end(stem, root, seed=1)
    assert second["seed"] == 1
    assert without_timings({**second, "seed": 0}) != without_timings(first), \
        f"{stem}: HW_SEED=1 gave the same numbers as HW_SEED=0"
    after = snapshot(*published)
    assert after["figures/" + topic + "/metrics.json"] != before["figures/" + topic + "/metrics.json"]
    assert set(after) == set(before), "the new run's outputs replace the old ones as a whole"
    assert staged_files(root, topic) == []
