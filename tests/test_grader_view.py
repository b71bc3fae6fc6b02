"""What a grader reads first is the answer (issue 38): each graded notebook short enough to read
(visible code lines, prose per code line), its answer within its pages in the assignment's PDF,
and no machinery in what the notebooks show (versions, paths, progress bars, download logs,
wall times, cache names). The bounds are bundle.toml's (max_code_lines, max_pages)."""
from __future__ import annotations

import json
import re
import sys

import nbformat
import pytest

from conftest import REPO, visible_code_cells

sys.path.insert(0, str(REPO / "tools"))
import manifest  # noqa: E402
from test_pdf import smoke_build  # noqa: E402,F401  (the shared smoke `make pdf`)

BUNDLE = manifest.load()
GRADED = [nb for nb in BUNDLE.graded]


def visible_code_lines(nb) -> int:
    """Non-blank lines of the code cells a reader sees."""
    return sum(1 for c in visible_code_cells(nb) for line in c.source.splitlines() if line.strip())


@pytest.mark.parametrize("notebook", GRADED, ids=lambda n: n.stem)
def test_a_graded_notebook_is_short_code_under_enough_prose(notebook):
    nb = nbformat.read(REPO / "notebooks" / notebook.file, as_version=4)
    lines = visible_code_lines(nb)
    words = sum(len(c.source.split()) for c in nb.cells  # the prose a grader reads: not the lines above folded cells
                if c.cell_type == "markdown" and "remove_cell" not in c.metadata.get("tags", []))
    assert lines <= notebook.max_code_lines, f"{notebook.stem}: {lines} visible code lines, at most {notebook.max_code_lines}"
    assert words / lines >= 8, f"{notebook.stem}: {words / lines:.1f} markdown words per visible code line, at least 8"
    settings = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(settings) == 1 and nb.cells.index(settings[0]) <= 3, f"{notebook.stem}: one settings cell at the top"
    assert all(re.fullmatch(r"[A-Z_]+ = .+", line.split("#")[0].strip()) for line in settings[0].source.splitlines()
               if line.split("#")[0].strip()), "the settings cell holds assignments only (papermill injects after it)"


# What the PDFs must not show: the run's machinery. (pattern, what it is)
NOISE = [(r"torch=\d|torch \d+\.\d+\.\d+|\+cu\d{3}", "a library version"),
         (r"\bcommit [0-9a-f]{7}\b", "a commit"),
         (r"installing \S+ .*with pip|pip install", "an install line"),
         (r"gaierror|not retried before|download failed|\.download-failures", "a download-failure log"),
         (r"\d+/\d+ \[\d+:\d+|it/s\]|s/it\]", "a progress bar"),
         (r"wall time|\btrained in \d+ s\b|\d+ s \|", "a wall time"),
         (r"cached as|loaded from the cache|classifier_\w+_[0-9a-f]{16}\.pt", "a cache file name"),
         (r"(?<![\w.])(/[\w.-]+){2,}/", "a path"),
         (r"build/\.staging|PosixPath\(", "a path")]


def shown_text(nb) -> str:
    out = []
    for c in visible_code_cells(nb):
        for o in c.get("outputs", []):
            out.append("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


@pytest.mark.parametrize("stem", BUNDLE.stems)
def test_committed_outputs_show_answers_not_machinery(stem):
    text = shown_text(nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4))
    found = [(what, m.group(0)) for pattern, what in NOISE for m in [re.search(pattern, text)] if m]
    assert not found, f"{stem}.ipynb shows {found}"


def test_each_graded_answer_fits_its_pages(smoke_build):
    build_dir, _ = smoke_build
    for a in BUNDLE.assignments:
        pages = json.loads((build_dir / f"{a.slug}.pages.json").read_text())
        for stem in a.answers.values():
            bound = BUNDLE.notebook(stem).max_pages
            assert not bound or len(pages["notebooks"][stem]) <= bound, \
                f"{a.slug}: {stem} takes {len(pages['notebooks'][stem])} pages, at most {bound}"
    run_stamps = re.findall(r"Run shown: [^\n]*", (build_dir / "notebooks" / f"{GRADED[0].stem}.ipynb").read_text())
    assert all("commit" not in s for s in run_stamps)


def test_notebook_pdfs_wrap_printed_output_at_page_width_and_keep_a_table_on_one_page():
    """hwcommon.PAGE_WIDTH, the width the notebooks' tables are printed to, is the width at which the
    notebook PDF's template wraps printed output; output of a table's length is kept on one page (its
    header is never left alone at the foot of one), a long log may break across pages."""
    from nbconvert import LatexExporter
    from traitlets.config import Config

    import build_pdf
    import hwcommon as hw

    fits, wraps = "a" * hw.PAGE_WIDTH, "b" * (hw.PAGE_WIDTH + 1)
    table, log = "\n".join(["c" * 10] * 12), "\n".join(["d" * 10] * 40)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")])
    for text in (f"{fits}\n{wraps}\n", table + "\n", log + "\n"):
        cell = nbformat.v4.new_code_cell("print()")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells.append(cell)
    exporter = LatexExporter(config=Config(), template_file=str(build_pdf.TEMPLATE_DIR / "dejavu.tex.j2"))
    latex, _ = exporter.from_notebook_node(nb)
    assert fits in latex and wraps not in latex and "b" * hw.PAGE_WIDTH in latex
    verbatims = re.findall(r"\\begin\{Verbatim\}(\[[^\n]*\])\n(.*?)\\end\{Verbatim\}", latex, flags=re.S)
    options = {body.split("\n")[0].strip()[0]: opts for opts, body in verbatims if body.strip()[:1] in "abcd"}
    assert "samepage=true" in options["a"] and "samepage=true" in options["c"] and "samepage" not in options["d"]
