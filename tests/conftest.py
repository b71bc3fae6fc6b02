"""Shared test fixtures: run a notebook copy in the smoke profile in a temp dir."""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "notebooks"))
sys.path.insert(0, str(REPO))


def execute_notebook_copy(name: str, tmp_path: Path, profile: str = "smoke", timeout: int = 600):
    """Copy notebooks/<name> and hwcommon.py into tmp_path/notebooks, execute
    it there with HW_ROOT=tmp_path (so figures/ and build/ land in the temp dir,
    never over the committed ones) and return (executed notebook, metrics dict
    or None, root). The committed notebook is never modified."""
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "notebooks" / name, nb_dir / name)
    shutil.copy(REPO / "notebooks" / "hwcommon.py", nb_dir / "hwcommon.py")
    env = {"HW_ROOT": str(tmp_path), "HW_DATA_DIR": str(REPO / "data"), "HW_PROFILE": profile,
           "HW_UNATTENDED": "1", "HW_OFFLINE": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nb = nbformat.read(nb_dir / name, as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(nb_dir)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def error_outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


def read_metrics(root: Path, topic: str) -> dict:
    return json.loads((root / "figures" / topic / "metrics.json").read_text())


@pytest.fixture
def repo() -> Path:
    return REPO


def notebook_namespace(name: str, tag: str = "library", extra: dict | None = None) -> dict:
    """Execute only the code cells of notebooks/<name> tagged `tag` (cell
    metadata "tags") in a fresh namespace and return it, so tests can call the
    notebook's own functions (dataset, model, deployment) without running the
    whole notebook. Tagged cells must be plain Python (no ! or % magics)."""
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    namespace: dict = {"__name__": f"notebook_{Path(name).stem}", **(extra or {})}
    cells = [c for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]
    if not cells:
        raise AssertionError(f"{name} has no code cells tagged {tag!r}")
    for cell in cells:
        exec(compile(cell.source, f"{name}:{tag}", "exec", dont_inherit=True), namespace)
    return namespace


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
