"""The sentiment notebook against the oldest transformers release it supports and the pinned one.

The notebook uses public transformers APIs only (BertConfig, BertModel, BertTokenizerFast,
from_pretrained with attn_implementation="sdpa", the model's forward with input_ids and
attention_mask), so it runs from transformers 4.46.3 (the oldest release tested; 4.57.6 too) to
the 5.23.0 of requirements.txt. Before 5.2 the notebook called a private masking helper and
needed transformers >= 5.2.0. This test installs the oldest, with the tokenizers and
huggingface_hub releases it requires, by pip into a cached folder (--no-deps --target; nothing
in the venv changes) and executes the graded notebook's smoke profile with that folder first on
PYTHONPATH, then checks the run's numbers as tests/test_notebook_runs.py does. The pinned
release runs from the venv. HW_TEST_CACHE (default ~/.cache/hw-tests) holds the installs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

PY = sys.executable
OLDEST = {"transformers": "4.46.3", "tokenizers": "0.20.3", "huggingface_hub": "0.36.0"}


def pinned_version() -> str:
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.strip().startswith("transformers=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("requirements.txt pins no transformers version")


def installed(packages: dict) -> Path:
    """A folder holding `packages` (name -> version), installed once by pip and kept."""
    cache = Path(os.environ.get("HW_TEST_CACHE", Path.home() / ".cache" / "hw-tests"))
    folder = cache / ("transformers-" + packages["transformers"])
    if (folder / ".complete").exists():
        return folder
    partial = cache / f".{folder.name}.{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    proc = subprocess.run([PY, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(partial),
                           *(f"{name}=={version}" for name, version in packages.items())],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        pytest.skip(f"pip could not install {packages} (no package index?): {proc.stderr.strip()[-300:]}")
    (partial / ".complete").touch()
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def test_the_venv_has_the_pinned_transformers():
    """The pinned end of the range runs in every smoke run of tests/test_notebook_runs.py,
    which uses the venv: here only that the venv really holds the pinned release."""
    seen = subprocess.run([PY, "-c", "import transformers; print(transformers.__version__)"],
                          capture_output=True, text=True, timeout=120)
    assert seen.stdout.strip() == pinned_version(), seen.stderr[-2000:]


@pytest.mark.parametrize("which", ["oldest"])
def test_sentiment_smoke_run_with_transformers(which, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HW_") and k != "PYTHONPATH"}
    env.update(HW_PROFILE="smoke", HW_OFFLINE="1", HW_THREADS="1", HW_UNATTENDED="1", HW_SEED="0",
               HW_ROOT=str(tmp_path), HW_DATA_DIR=str(REPO / "data"))
    if which == "oldest":
        env["PYTHONPATH"] = str(installed(OLDEST))
        expected = OLDEST["transformers"]
    else:
        expected = pinned_version()
    seen = subprocess.run([PY, "-c", "import transformers; print(transformers.__version__)"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert seen.stdout.strip() == expected, seen.stderr[-2000:]
    proc = subprocess.run([PY, str(REPO / "tools" / "run_notebook.py"), str(REPO / "notebooks" / "transformer_sentiment.ipynb"),
                           str(tmp_path / "executed.ipynb")], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"the notebook fails with transformers {expected}:\n{proc.stderr[-3000:]}"
    from test_sentiment import check_smoke_run
    check_smoke_run(json.loads((tmp_path / "figures" / "sentiment" / "metrics.json").read_text()), tmp_path)
