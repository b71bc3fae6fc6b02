"""Shared test helpers: one thread per test process, the notebooks' library cells, metrics."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "notebooks"))
sys.path.insert(0, str(REPO))

# `make test` runs two pytest-xdist workers on the cores: each worker, and every notebook or
# build it starts, computes on one thread. Two threads per process on two cores would make
# torch's threads wait on each other and double the suite's time.
os.environ["HW_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"


def error_outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


def visible_code_cells(nb) -> list:
    """The code cells a reader of a notebook sees: not the synced plumbing ("hwcommon"), not a companion's
    graded-library copy, not the cells tagged remove_cell (out of the PDF)."""
    return [c for c in nb.cells if c.cell_type == "code" and c.get("id") not in ("hwcommon", "graded-library")
            and "remove_cell" not in c.metadata.get("tags", [])]


def read_metrics(root: Path, topic: str) -> dict:
    return json.loads((root / "figures" / topic / "metrics.json").read_text())


def committed_metrics(topic: str) -> dict:
    """figures/<topic>/metrics.json as it is on disk: only `make publish` changes it
    (runs started by make write under build/runs/), so it is the committed run."""
    return read_metrics(REPO, topic)


# The order in which pytest-xdist hands out the tests (its first batch goes round-robin to the
# two workers): first the two tests that build what many others share (the smoke `make pdf` of
# test_pdf.py, the stand-in repository of test_make_pdf.py), one to each worker, then the notebook
# runs, longest first, so that the workers neither wait for each other's build nor end with one
# long test running while the other is idle.
SHARED_BUILDS = ("test_pdf.py", "test_make_pdf.py")
LONGEST_FIRST = ("test_notebook_runs.py", "test_pdf.py", "test_make_pdf.py", "test_downloads.py")


def pytest_collection_modifyitems(items):
    first = [next((i for i in items if i.path.name == name), None) for name in SHARED_BUILDS]
    first = [i for i in first if i is not None]

    def rank(item):
        if item in first:
            return -1
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)  # stable: the order inside each file stays


def execute_in_place(notebook: Path, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    """`jupyter nbconvert --execute` on `notebook` in its own folder, as a user runs it there;
    the run is written to executed.ipynb beside it."""
    return subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                           notebook.name, "--output", "executed.ipynb"],
                          cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def repo() -> Path:
    return REPO


def notebook_namespace(name: str, tag: str = "library", extra: dict | None = None) -> dict:
    """The namespace of notebooks/<name>'s code cells tagged `tag`, run alone
    (through tools/notebook_code.py, the one loader tests and tools share)."""
    from tools import notebook_code
    return notebook_code.load(name, tags=(tag,), **(extra or {}))


TIMING = re.compile(r"seconds|wall|elapsed|timing|duration")


def without_timings(value):
    """Metrics with every timing field removed (they differ from run to run)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not TIMING.search(k)}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: tests share the machine with other runs (restored afterwards)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
