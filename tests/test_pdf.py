"""End to end: `make theory` and `make pdf PROFILE=smoke` from this checkout,
into a temp build folder (the committed figures/ and build/ are not touched)."""
from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import build_pdf  # noqa: E402

pypdf = pytest.importorskip("pypdf")


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def squash(text: str) -> str:
    """Compare titles without caring how LaTeX broke lines (hyphenation
    included) or set dashes."""
    text = re.sub(r"(?<=[a-z])-\n(?=[a-z])", "", text)
    return re.sub(r"\s+", "", text.replace("—", "-").replace("–", "-"))


def make(*args, timeout=1800):
    proc = subprocess.run(["make", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"make {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_theory_compiles(tmp_path):
    make("theory", f"BUILD={tmp_path}")
    text = squash(pdf_text(tmp_path / "theory.pdf"))
    for section in ("NYU Deep Learning", "UArk CSCE 5563", "Stanford CS230"):
        assert squash(section) in text


@pytest.fixture(scope="module")
def smoke_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke-pdf")
    make("pdf", "PROFILE=smoke", f"BUILD={root / 'build'}", f"RUN_ROOT={root}")
    return root / "build"


def test_submission_pdf_has_every_assignment_and_notebook(smoke_build):
    reader = pypdf.PdfReader(smoke_build / "submission.pdf")
    text = squash("\n".join(page.extract_text() for page in reader.pages))
    for assignment in build_pdf.ASSIGNMENTS:
        assert squash(assignment.title) in text, assignment.title
    for stem in build_pdf.NOTEBOOKS:
        nb = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4)
        title = re.search(r"^#\s+(.+)$", nb.cells[0].source, flags=re.M).group(1)
        assert squash(title) in text, f"notebook title {title!r} missing"
    bookmarks = [b.title if hasattr(b, "title") else b["/Title"] for b in _flatten(reader.outline)]
    assert len(bookmarks) >= len(build_pdf.ASSIGNMENTS) + len(build_pdf.NOTEBOOKS)


def _flatten(outline):
    for item in outline:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def test_per_assignment_pdfs_and_zips(smoke_build):
    for a in build_pdf.ASSIGNMENTS:
        text = squash(pdf_text(smoke_build / f"{a.slug}.pdf"))
        assert squash(a.title) in text
        with zipfile.ZipFile(smoke_build / f"{a.slug}.zip") as z:
            names = set(z.namelist())
        assert f"{a.slug}/{a.slug}.pdf" in names and f"{a.slug}/README.md" in names
        for stem in a.notebooks:
            assert f"{a.slug}/{stem}.ipynb" in names


MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$", re.S)


def test_every_notebook_glyph_reaches_the_pdf(smoke_build):
    """Non-ASCII characters of markdown, code and outputs must all be in the
    PDF's text (fonts that lack a glyph drop it silently)."""
    executed = smoke_build / "notebooks" / "smoke"
    for stem in build_pdf.NOTEBOOKS:
        nb = nbformat.read(executed / f"{stem}.ipynb", as_version=4)
        pieces = []
        for cell in nb.cells:
            source = cell.source
            if cell.cell_type == "markdown":
                source = MATH.sub("", build_pdf.BADGE.sub("", source))
            pieces.append(source)
            for out in cell.get("outputs", []):
                pieces.append(out.get("text", "") + out.get("data", {}).get("text/plain", ""))
        wanted = {ch for ch in "".join(pieces) if ord(ch) > 127 and not ch.isspace()}
        text = pdf_text(executed / f"{stem}.pdf")
        missing = sorted(ch for ch in wanted if ch not in text)
        assert not missing, f"{stem}: glyphs missing from the PDF: {missing}"


def test_unattended_runs_show_finished_progress_bars(smoke_build):
    executed = smoke_build / "notebooks" / "smoke"
    for stem in build_pdf.NOTEBOOKS:
        nb = nbformat.read(executed / f"{stem}.ipynb", as_version=4)
        streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                          for o in c.get("outputs", []))
        assert "\r" not in streams, f"{stem}: progress frames left in the output"
        assert not re.search(r"\b0%\|", streams), f"{stem}: a progress bar stopped at its first frame"
