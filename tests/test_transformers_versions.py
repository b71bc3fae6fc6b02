"""The sentiment notebook against the oldest transformers release it supports and the pinned one.

The notebook uses public transformers APIs only (BertConfig, BertModel, BertTokenizerFast,
from_pretrained with attn_implementation="sdpa", the model's forward with input_ids and
attention_mask), so it runs from transformers 4.46.3 (the oldest release tested; 4.57.6 too) to
the 5.23.0 of requirements.txt. Before 5.2 the notebook called a private masking helper and
needed transformers >= 5.2.0. `installed(OLDEST)` installs the oldest, with the tokenizers and
huggingface_hub releases it requires (and requests), by uv into a cached folder (--no-deps --target; nothing
in the venv changes); put first on PYTHONPATH, it replaces the venv's. The notebook runs with
it in tests/test_notebook_runs.py: there the graded notebook's smoke run 2 uses the oldest
release, run 1 the pinned one from the venv, and the two must give the same numbers (they do:
the same sdpa attention, the same weights), which check_smoke_run then checks. HW_TEST_CACHE
(default ~/.cache/hw-tests) holds the installs.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import setup_venv  # noqa: E402

PY = sys.executable
# huggingface_hub before 1.0 downloads with requests, which the venv does not hold (its transformers
# uses httpx): requests and the releases it requires come with it (Colab has them preinstalled)
OLDEST = {"transformers": "4.46.3", "tokenizers": "0.20.3", "huggingface_hub": "0.36.0", "requests": "2.34.2",
          "urllib3": "2.8.0", "charset-normalizer": "3.5.3", "certifi": "2026.10.19.post1", "idna": "3.20"}


def pinned_version() -> str:
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.strip().startswith("transformers=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("requirements.txt pins no transformers version")


class NotInstallable(Exception):
    """A release could not be installed (no package index reachable?)."""


def installed(packages: dict) -> Path:
    """A folder holding `packages` (name -> version), installed once (uv, or pip without it) and kept."""
    cache = Path(os.environ.get("HW_TEST_CACHE", Path.home() / ".cache" / "hw-tests"))
    listed = "\n".join(f"{name}=={version}" for name, version in sorted(packages.items()))
    # named by the whole list: a changed list is a new folder, never a stale one
    folder = cache / f"transformers-{packages['transformers']}-{hashlib.sha256(listed.encode()).hexdigest()[:10]}"
    if (folder / ".complete").exists():
        return folder
    partial = cache / f".{folder.name}.{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    failed = setup_venv.install_into(PY, [f"{name}=={version}" for name, version in packages.items()], partial)
    if failed:
        shutil.rmtree(partial, ignore_errors=True)
        raise NotInstallable(f"could not install {packages} (no package index?): {failed}")
    (partial / ".complete").touch()
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def seen_version(env: dict) -> str:
    """The transformers version a Python process started with `env` imports."""
    seen = subprocess.run([PY, "-c", "import transformers; print(transformers.__version__)"], env=env,
                          capture_output=True, text=True, timeout=120)
    return seen.stdout.strip() or seen.stderr[-2000:]


def test_the_venv_has_the_pinned_transformers():
    """The pinned end of the range runs in every smoke run of tests/test_notebook_runs.py
    that uses the venv alone: here only that the venv really holds the pinned release."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    assert seen_version(env) == pinned_version()


def test_the_oldest_release_installs_and_replaces_the_venvs():
    try:
        folder = installed(OLDEST)
    except NotInstallable as reason:
        pytest.skip(str(reason))
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(folder)}
    assert seen_version(env) == OLDEST["transformers"]
