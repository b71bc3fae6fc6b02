"""The PDFs, end to end: `make pdf PROFILE=smoke` from this checkout, built
once for the whole module into a temp folder (the committed figures/ and
build/ are not touched; a notebook whose committed run matches its inputs is
shown as committed, any other runs in the smoke profile under that folder),
is what every test of the documents reads: contents, zips, notebook
conversion, the Gradescope layout (page map, headers, table of contents, the
appendix with the companion notebooks), the cover and the DRAFT mark. Inputs that build cannot show (a
filled-in student file, a broken one, a tagged test notebook) get their own
small builds: the CS230 section alone, or a three-cell notebook. Last, the
LaTeX sources' \\checked references."""
from __future__ import annotations

import ast
import functools
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from filelock import FileLock

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import build_pdf  # noqa: E402

pypdf = pytest.importorskip("pypdf")

# The cover of the smoke build: theory/student.tex as it is in this checkout.
STUDENT = build_pdf.read_student(build_pdf.STUDENT_FILE)


def page_texts(pdf: Path) -> tuple:
    """The text of each page (pypdf). Several tests read the same PDFs of the smoke build, and
    pypdf takes seconds per document: each version of a file is read once per process."""
    stat = Path(pdf).stat()
    return _page_texts(str(pdf), stat.st_mtime_ns, stat.st_size)


@functools.cache
def _page_texts(pdf: str, mtime_ns: int, size: int) -> tuple:  # the file's version is part of the key
    return tuple(page.extract_text() for page in pypdf.PdfReader(pdf).pages)


def pdf_text(pdf: Path) -> str:
    return "\n".join(page_texts(pdf))


def squash(text: str) -> str:
    """Compare titles without caring how LaTeX broke lines (hyphenation
    included), set dashes or typographic apostrophes."""
    text = re.sub(r"(?<=[a-z])-\n(?=[a-z])", "", text)
    return re.sub(r"\s+", "", text.replace("—", "-").replace("–", "-").replace("’", "'"))


def run(cmd: list, timeout: int) -> str:
    env = {**os.environ, "HW_THREADS": "1", "HW_OFFLINE": "1"}  # one core per pytest-xdist worker; no downloads
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def build(*args, timeout=600) -> str:
    """Run tools/build_pdf.py; return its output (the build log)."""
    return run([sys.executable, REPO / "tools" / "build_pdf.py", *args], timeout)


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory, worker_id):
    """`make pdf PROFILE=smoke` (the README's first command, smoke profile):
    executes the three notebooks, converts them, builds every PDF and zip.
    Returns (build folder, build log). Built once per test session: under
    pytest-xdist the workers share one build through a lock in the session's
    temp folder (the first worker to need it builds it, the others wait)."""
    if worker_id == "master":  # no xdist: this process is the whole session
        root = tmp_path_factory.mktemp("smoke-pdf")
        return root / "build", make_smoke_pdf(root)
    shared = tmp_path_factory.getbasetemp().parent  # this session's folder, above every worker's
    root, log_file = shared / "smoke-pdf", shared / "smoke-pdf" / "build.log"
    with FileLock(str(shared / "smoke-pdf.lock")):
        if not log_file.exists():
            root.mkdir(exist_ok=True)
            log_file.write_text(make_smoke_pdf(root))
    return root / "build", log_file.read_text()


def make_smoke_pdf(root: Path) -> str:
    return run(["make", "pdf", "PROFILE=smoke", f"BUILD={root / 'build'}"], timeout=1800)


def shown(build_dir: Path, stem: str) -> Path:
    """The notebook the PDFs show (committed, or run by this build)."""
    return build_dir / "notebooks" / f"{stem}.ipynb"


# Every notebook the PDFs show: the graded ones and their companions (bundle.toml).
ALL_NOTEBOOKS = build_pdf.BUNDLE.stems


def documents(build_dir: Path) -> list:
    return [build_dir / f"{a.slug}.pdf" for a in build_pdf.ASSIGNMENTS] + [build_dir / "submission.pdf"]


def notebook_title(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    first_markdown = next(c for c in nb.cells if c.cell_type == "markdown")
    return re.search(r"^#\s+(.+)$", first_markdown.source, flags=re.M).group(1)


def test_submission_pdf_has_every_assignment_and_notebook(smoke_build):
    build_dir, _ = smoke_build
    text = squash(pdf_text(build_dir / "submission.pdf"))
    for assignment in build_pdf.ASSIGNMENTS:
        assert squash(assignment.title) in text, assignment.title
    for stem in ALL_NOTEBOOKS:
        title = notebook_title(shown(build_dir, stem))
        assert squash(title) in text, f"notebook title {title!r} missing"
    outline = pypdf.PdfReader(build_dir / "submission.pdf").outline
    bookmarks = [b.title if hasattr(b, "title") else b["/Title"] for b in _flatten(outline)]
    assert len(bookmarks) >= len(build_pdf.ASSIGNMENTS) + len(ALL_NOTEBOOKS)
    for stem in ALL_NOTEBOOKS:  # the bookmarks name the graded notebooks and the companions
        assert any(f"({stem}.ipynb)" in b for b in bookmarks), f"no bookmark names {stem}.ipynb: {bookmarks}"
    if any(s.endswith("_beyond") for s in ALL_NOTEBOOKS):
        assert "Appendix: Beyond the homework" in bookmarks


def _flatten(outline):
    for item in outline:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def test_zips_hold_the_pdf_the_executed_notebook_and_a_readme(smoke_build):
    """The notebooks stand alone (their hidden first cell creates the helper
    module), so a zip holds nothing else: no hwcommon.py, and a README that
    neither ships nor mentions it."""
    build_dir, _ = smoke_build
    for a in build_pdf.ASSIGNMENTS:
        with zipfile.ZipFile(build_dir / f"{a.slug}.zip") as z:
            names = set(z.namelist())
            readme = z.read(f"{a.slug}/README.md").decode()
            notebooks = {stem: z.read(f"{a.slug}/{stem}.ipynb") for stem in ALL_NOTEBOOKS
                         if (build_pdf.BUNDLE.notebook(stem).companion_of or stem) in a.answers.values()}
        expected = {f"{a.slug}/{a.slug}.pdf", f"{a.slug}/README.md"} | {f"{a.slug}/{s}.ipynb" for s in notebooks}
        assert names == expected, f"{a.slug}.zip holds {sorted(names)}"
        assert "hwcommon" not in readme, f"{a.slug}: the README still mentions hwcommon"
        for stem, data in notebooks.items():
            assert data == shown(build_dir, stem).read_bytes()  # the executed copy the PDF shows
            assert f"HW_PROFILE=quick jupyter nbconvert --to notebook --execute {stem}.ipynb" in readme
            assert "pip install torch" in readme and "Colab" in readme


MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$", re.S)


def test_every_notebook_glyph_reaches_the_pdf(smoke_build):
    """Non-ASCII characters of markdown, code and outputs must all be in the
    PDF's text (fonts that lack a glyph drop it silently)."""
    executed = smoke_build[0] / "notebooks"
    for stem in ALL_NOTEBOOKS:
        nb = nbformat.read(executed / f"{stem}.ipynb", as_version=4)
        pieces = []
        for cell in nb.cells:
            if build_pdf.REMOVE_TAG in cell.metadata.get("tags", []):
                continue  # not in the PDF, by design
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
    executed = smoke_build[0] / "notebooks"
    for stem in ALL_NOTEBOOKS:
        nb = nbformat.read(executed / f"{stem}.ipynb", as_version=4)
        assert not any("execution" in c.metadata for c in nb.cells), f"{stem}: execution timestamps kept"
        streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                          for o in c.get("outputs", []))
        assert "\r" not in streams, f"{stem}: progress frames left in the output"
        assert not re.search(r"\b0%\|", streams), f"{stem}: a progress bar stopped at its first frame"


# ----------------------------------------------- Gradescope layout and cover

def header(a: build_pdf.Assignment, question: str) -> str:
    return f"{a.course} — {question}"


HEADING = re.compile(r"^((?:Question|Problem) \d+): ", re.M)


def pages_by_header(a: build_pdf.Assignment, texts: tuple) -> dict:
    """question -> PDF pages (1-based) whose text carries its header; a page
    that carries two headers fails."""
    pages = {}
    for number, text in enumerate(texts, start=1):
        owners = [q for q in a.questions if squash(header(a, q)) in squash(text)]
        assert len(owners) <= 1, f"{a.slug} page {number} has the headers of {owners}"
        for q in owners:
            pages.setdefault(q, []).append(number)
    return pages


def test_each_question_starts_a_page_under_its_own_header(smoke_build):
    build_dir, _ = smoke_build
    for a in build_pdf.ASSIGNMENTS:
        texts = page_texts(build_dir / f"{a.slug}.pdf")
        pages = pages_by_header(a, texts)
        assert list(pages) == a.questions, f"{a.slug}: questions with a header {list(pages)}"
        for q, numbers in pages.items():
            assert numbers == list(range(numbers[0], numbers[-1] + 1)), f"{a.slug} {q}: pages {numbers}"
            first_lines = texts[numbers[0] - 1].splitlines()[:3]
            if q in a.answers:  # the notebook's own title opens its first page
                title = notebook_title(shown(build_dir, a.answers[q]))
                assert squash(title)[:30] in squash("\n".join(first_lines)), f"{a.slug} {q}: {first_lines}"
                assert "Run shown:" in texts[numbers[0] - 1], f"{a.slug} {q}: no run stamp on its first page"
            else:  # the header, then the question's heading
                assert squash(header(a, q)) == squash(first_lines[0]), f"{a.slug} {q}: {first_lines}"
                assert first_lines[1].startswith(f"{q}: "), f"{a.slug} {q}: {first_lines}"
            for number in numbers:  # no page holds text of another question
                others = set(HEADING.findall(texts[number - 1])) - {q}
                assert not others, f"{a.slug} page {number} ({q}) also holds {others}"


def test_page_map_matches_the_pdf(smoke_build):
    build_dir, log = smoke_build
    for a in build_pdf.ASSIGNMENTS:
        page_map = json.loads((build_dir / f"{a.slug}.pages.json").read_text())
        texts = page_texts(build_dir / f"{a.slug}.pdf")
        assert page_map["questions"] == pages_by_header(a, texts)
        for q, numbers in page_map["questions"].items():  # and the build log prints the same table
            assert re.search(rf"^  {q} +{re.escape(build_pdf.page_ranges(numbers))}$", log, re.M), q
        # the graded notebook's pages are its question's; a companion's are in the appendix, where
        # each page carries the appendix header
        for q, stem in a.answers.items():
            assert page_map["notebooks"][stem] == page_map["questions"][q]
            companion = page_map["notebooks"].get(f"{stem}_beyond")
            assert (companion is not None) == (f"{stem}_beyond" in ALL_NOTEBOOKS), a.slug
            if companion:
                assert set(companion) <= set(page_map["appendix"])
                assert squash(notebook_title(shown(build_dir, f"{stem}_beyond")))[:30] in squash(texts[companion[0] - 1])
                assert "Run shown:" in texts[companion[0] - 1]
        for number in page_map["appendix"]:
            assert squash(f"{a.course} — Beyond the homework") in squash(texts[number - 1]), f"{a.slug} page {number}"


def test_table_of_contents_gives_each_questions_first_page(smoke_build):
    build_dir, _ = smoke_build
    for a in build_pdf.ASSIGNMENTS:
        page_map = json.loads((build_dir / f"{a.slug}.pages.json").read_text())
        first_question = min(numbers[0] for numbers in page_map["questions"].values())
        toc = "\n".join(page_texts(build_dir / f"{a.slug}.pdf")[1:first_question - 1])
        assert toc.startswith("Contents")
        for q, numbers in page_map["questions"].items():
            entry = re.search(rf"^{q}: .*?(\d+)$", toc, re.M)
            assert entry and int(entry.group(1)) == numbers[0], f"{a.slug}: {q} not listed at page {numbers[0]}"


def test_headers_name_the_course_of_each_pdf(smoke_build):
    """NYU Problems 1-3 are one section: each NYU PDF names its own course, the
    merged PDF names both."""
    build_dir, _ = smoke_build
    fall23, fall22 = (squash(pdf_text(build_dir / f"{slug}.pdf")) for slug in ("nyu-dl-fall2023", "nyu-dl-fall2022-hw3"))
    assert squash("NYU Deep Learning Fall 2023 — Problem 2") in fall23
    assert squash("NYU Deep Learning Fall 2022") not in fall23
    assert squash("NYU Deep Learning Fall 2022 HW3 — Problem 2") in fall22
    assert squash("NYU Deep Learning Fall 2023 — Problem") not in fall22
    merged = squash(pdf_text(build_dir / "submission.pdf"))
    assert squash("NYU Deep Learning Fall 2023 and Fall 2022 HW3 — Problem 3") in merged
    assert squash("NYU Deep Learning Fall 2022 HW3 — Problem 4") in merged


def body_bottoms(pdf: Path) -> list:
    """Per page, the lowest point (pt from the top) of text above the footer."""
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    bottoms = []
    for page in re.findall(r"<page width=\"[\d.]+\" height=\"([\d.]+)\">(.*?)</page>", html, re.S):
        height, words = float(page[0]), [float(y) for y in re.findall(r'yMax="([\d.]+)"', page[1])]
        body = [y for y in words if y < height - 55]  # the page number and any DRAFT band sit lower
        bottoms.append((max(body) if body else 0.0, height))
    return bottoms


def test_no_written_page_is_half_blank_before_its_question_ends(smoke_build):
    """A page left half empty inside a question is a float that drifted away;
    the last page of a question may be short."""
    build_dir, _ = smoke_build
    for a in build_pdf.ASSIGNMENTS:
        bottoms = body_bottoms(build_dir / f"{a.slug}.pdf")
        page_map = json.loads((build_dir / f"{a.slug}.pages.json").read_text())
        for q, numbers in page_map["questions"].items():
            if q in a.answers:
                continue
            for number in numbers[:-1]:
                bottom, height = bottoms[number - 1]
                assert bottom > height / 2, f"{a.slug} page {number} ({q}) ends at {bottom:.0f} of {height:.0f} pt"
    # the attention benchmark's figure and table are in the appendix, under a heading naming their
    # question, and the answer cites them (issue 38: a benchmark does not fill a theory answer's pages)
    texts = page_texts(build_dir / "nyu-dl-fall2023.pdf")
    pages = json.loads((build_dir / "nyu-dl-fall2023.pages.json").read_text())
    table_page = next(i for i, t in enumerate(texts) if "Time per call (ms)" in t)
    assert table_page + 1 in pages["appendix"] and "measured" in squash(texts[table_page]) and squash("Problem 3: self-attention") in squash(texts[table_page])
    assert not any("Time per call (ms)" in texts[p - 1] for p in pages["questions"]["Problem 3"])
    assert any(squash("Measured (one attention head") in squash(texts[p - 1]) for p in pages["questions"]["Problem 3"])


def test_cover_names_the_student_and_nothing_about_the_build(smoke_build):
    """No project asides in the PDF (issue 19): the cover holds the title and the student's fields."""
    build_dir, _ = smoke_build
    for a in build_pdf.ASSIGNMENTS:
        cover = squash(page_texts(build_dir / f"{a.slug}.pdf")[0])
        assert "Builtby" not in cover and "profile" not in cover
        assert squash(STUDENT.values["StudentName"]) in cover and squash(STUDENT.values["StudentID"]) in cover


# ------------------------------------------------------------ student file

FILLED_STUDENT = {  # every LaTeX special the cover must survive: _ & % # $
    "StudentName": "Jane_Doe & Co",
    "StudentID": "N12345678 #7",
    "StudentEmail": "jane_doe@example.edu",
    "Collaborators": "None.",
    "ToolsUsed": "PyTorch; ChatGPT ($20 plan, 100% proofreading only)",
}
DRAFT_LINE = re.compile(r"^DRAFT: fill in \S*student\.tex \(name, ID, e-mail, collaborators, tools used\), then rebuild",
                        re.M)


def write_student(path: Path, fields: dict) -> Path:
    path.write_text("".join(f"\\newcommand{{\\{name}}}{{{value}}}\n" for name, value in fields.items()))
    return path


def test_placeholders_mark_every_page_draft(smoke_build, tmp_path):
    """While theory/student.tex holds its placeholders (as committed), every
    page of every PDF of the smoke build, notebook pages included, carries the
    DRAFT band, and the log says what to fill in. Once the student has filled
    it in, the smoke build has no mark, and the CS230 section is built with
    the placeholders instead."""
    build_dir, log = smoke_build
    pdfs = documents(build_dir)
    if not STUDENT.unfilled:
        assert "DRAFT" not in log
        assert not any("DRAFT" in pdf_text(pdf) for pdf in pdfs)
        placeholders = {name: placeholder for name, (_, placeholder) in build_pdf.STUDENT_FIELDS.items()}
        student = write_student(tmp_path / "student.tex", placeholders)
        log = build("--build", tmp_path, "--student", student, "theory", "--only", "cs230")
        pdfs = [tmp_path / "theory-cs230.pdf"]
    assert DRAFT_LINE.search(log)
    for pdf in pdfs:
        for number, text in enumerate(page_texts(pdf), start=1):
            assert squash("DRAFT: fill in") in squash(text), f"{pdf.name} page {number} has no DRAFT mark"


def test_filled_student_file_builds_with_latex_specials_and_no_mark(tmp_path):
    """The theory builder (`make theory` runs it on every section) on the
    CS230 section alone, with a filled-in cover full of LaTeX specials."""
    student = write_student(tmp_path / "student.tex", FILLED_STUDENT)
    log = build("--build", tmp_path, "--student", student, "theory", "--only", "cs230")
    assert "DRAFT" not in log
    texts = page_texts(tmp_path / "theory-cs230.pdf")
    cover = squash(texts[0])
    for value in FILLED_STUDENT.values():
        assert squash(value) in cover, value
    assert "Builtby" not in cover
    assert squash("Stanford CS230 Winter 2020 Midterm — Question 7") in squash("\n".join(texts))
    assert not any("DRAFT" in text for text in texts)


def test_make_theory_runs_the_theory_builder(tmp_path):
    """`make theory` is that builder on every section."""
    recipe = run(["make", "-n", "theory", f"BUILD={tmp_path}"], timeout=60)
    assert f"tools/build_pdf.py --build {tmp_path} theory\n" in recipe


def test_broken_student_field_stops_with_one_line_naming_it(tmp_path):
    student = write_student(tmp_path / "student.tex", {**FILLED_STUDENT, "StudentName": "Jane {Doe"})
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "build_pdf.py"), "--build", str(tmp_path),
                           "--student", str(student), "theory"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "\\StudentName" in proc.stderr


def test_remove_cell_tagged_cells_are_not_in_the_notebook_pdf(tmp_path):
    nb = nbformat.v4.new_notebook()
    hidden = nbformat.v4.new_code_cell('PLUMBING = "hiddenmarker7f3a"', outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="hiddenoutput7f3a\n")])
    hidden.metadata["tags"] = ["remove_cell"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Tagged cells\n\nvisiblemarker91c2"), hidden,
                nbformat.v4.new_code_cell('print("visiblecode91c2")')]
    nbformat.write(nb, tmp_path / "tagged.ipynb")
    build("notebook", tmp_path / "tagged.ipynb", tmp_path / "tagged.pdf")
    text = pdf_text(tmp_path / "tagged.pdf")
    assert "visiblemarker91c2" in text and "visiblecode91c2" in text
    assert "7f3a" not in text


# ------------------------------------------------------------ LaTeX sources

def test_every_checked_names_an_existing_test():
    """\\checked{tests/x.py::test_name}{...} in the theory must name a test
    function that exists (parametrised ones included)."""
    cited = re.findall(r"\\checked\{(tests/[\w./]+)::(\w+)\}", "".join(
        p.read_text() for p in sorted((REPO / "theory" / "sections").glob("*.tex"))))
    assert len(cited) > 50
    defined = {}
    for path in {path for path, _ in cited}:
        tree = ast.parse((REPO / path).read_text())
        defined[path] = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    missing = [f"{path}::{name}" for path, name in cited if name not in defined[path]]
    assert not missing, f"\\checked names tests that do not exist: {missing}"
