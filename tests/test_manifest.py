"""bundle.toml is the one list of the bundle: what reads it, what it refuses, and
that no other file keeps a list of its own; the README a student reads; the
layout (every tool reachable); the cover from its template.
(Adding a notebook through the manifest alone: tests/test_make_pdf.py.)"""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import build_pdf  # noqa: E402
import manifest  # noqa: E402

BUNDLE = manifest.load()
TEXT = (REPO / "bundle.toml").read_text()


def test_the_makefile_reads_the_notebooks_from_the_manifest():
    out = subprocess.run(["make", "-s", "--no-print-directory", "-p", "-n", "help"], cwd=REPO, capture_output=True,
                         text=True, timeout=120).stdout
    listed = re.search(r"^NOTEBOOKS := (.*)$", out, flags=re.M).group(1).split()
    assert listed == BUNDLE.stems
    # graded first, each followed by its companion, in the order of the assignments
    assert BUNDLE.stems[0] == BUNDLE.assignments[0].answers[next(iter(BUNDLE.assignments[0].answers))]
    for nb in BUNDLE.notebooks:
        if nb.companion_of:
            assert BUNDLE.stems.index(nb.companion_of) < BUNDLE.stems.index(nb.stem)


def test_the_reader_for_python_3_10_reads_the_manifest_as_tomllib_does():
    assert manifest.parse_subset(TEXT) == tomllib.loads(TEXT)


def _with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bundle.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('topic = "gan"\n', 'topic = "gan"\ncolour = "red"\n', 1), "unknown key 'colour'"),
    (lambda t: t.replace('companion_of = "gan_fashion_mnist"', 'companion_of = "gan_mnist"'),
     "companion_of 'gan_mnist' is not a graded notebook"),
    (lambda t: t.replace('"Problem 4" = "gan_fashion_mnist" }', '"Problem 4" = "nope" }'),
     "Problem 4 is answered by 'nope'"),
    (lambda t: t.replace('stem = "binary_addition_rnn_beyond"', 'stem = "binary_addition_rnn"'),
     "notebook stem 'binary_addition_rnn' is declared twice"),
    (lambda t: t.replace('stem = "binary_addition_rnn_beyond"', 'stem = "binary_addition_rnn_next"'),
     "notebooks/binary_addition_rnn_next.ipynb does not exist"),
    (lambda t: t.replace('sections = ["cs230"]', 'sections = ["cs231"]'), "theory/sections/cs231.tex does not exist"),
    (lambda t: t + "\n[[assignment]]\nslug = \"x\"\n", "[[assignment]] x: title is missing"),
    (lambda t: t.replace('short = "UArk HW2"', 'short = "UArk HW2'), "not valid TOML"),
])
def test_a_faulty_manifest_is_refused_in_one_line_naming_the_entry(tmp_path, edit, message):
    path = _with(tmp_path, edit(TEXT))
    with pytest.raises(SystemExit) as err:
        manifest.bundle_from(manifest.parse(path.read_text(), path), path, REPO)
    text = str(err.value)
    assert text.startswith("FAILED: bundle.toml: ") and message in text and "\n" not in text, text


def test_a_faulty_manifest_stops_make_in_one_line(tmp_path):
    """The Makefile reads the manifest first: a fault stops every target, naming the entry."""
    import shutil
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    shutil.copy2(REPO / "Makefile", repo)
    shutil.copy2(REPO / "tools" / "manifest.py", repo / "tools")
    (repo / "bundle.toml").write_text(TEXT.replace('topic = "gan"\n', 'topic = "gan"\ncolour = "red"\n', 1))
    proc = subprocess.run(["make", "pdf"], cwd=repo, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "FAILED: bundle.toml: [[notebook]] gan_fashion_mnist: unknown key 'colour'" \
        in proc.stderr, proc.stderr


# ---------------------------------------------------------------- one list

def _families() -> dict:
    """Each graded notebook's stem -> the stems of its family (itself and its companions)."""
    return {nb.stem: {nb.stem} | {c.stem for c in BUNDLE.companions(nb.stem)} for nb in BUNDLE.graded}


def _files_of_the_build():
    yield REPO / "Makefile"
    yield from sorted(p for p in (REPO / "tools").rglob("*") if p.is_file() and p.suffix in (".py", ".sh", ".j2", ".tex")
                      and "__pycache__" not in p.parts)


def test_no_file_but_the_manifest_lists_the_notebooks_or_the_assignments():
    """The Makefile and the tools name at most one notebook family each (a benchmark names its own
    notebook) and no assignment: a list of them anywhere but bundle.toml would go stale."""
    slugs = [a.slug for a in BUNDLE.assignments]
    for path in _files_of_the_build():
        text = path.read_text(errors="replace")
        named = [graded for graded, family in _families().items()
                 if any(re.search(rf"\b{stem}\b", text) for stem in family)]
        assert len(named) <= 1, f"{path.relative_to(REPO)} names the notebooks {named}: read them from bundle.toml"
        found = [slug for slug in slugs if slug in text]
        assert not found, f"{path.relative_to(REPO)} names the assignments {found}: read them from bundle.toml"


def test_every_tool_is_reachable_from_a_make_target_or_a_test():
    """A tool that no make target, no test and no reachable tool names is dead weight or a
    forgotten step: each file under tools/ is reachable from the Makefile or tests/."""
    tools = {p for p in (REPO / "tools").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    roots = (REPO / "Makefile").read_text() + "".join(p.read_text() for p in (REPO / "tests").glob("*.py"))

    def names(path: Path) -> set:
        rel = path.relative_to(REPO).as_posix()
        return {rel, path.name} | ({path.stem} if path.suffix == ".py" else set()) | \
            ({path.parent.relative_to(REPO).as_posix()} if path.parent.name == "nbconvert_template" else set())

    def mentioned(path: Path, text: str) -> bool:
        return any(re.search(rf"(?<![\w/]){re.escape(n)}(?!\w)", text) or f"/{n}" in text for n in names(path))

    reached = {p for p in tools if mentioned(p, roots)}
    while True:
        more = {p for p in tools - reached if any(mentioned(p, q.read_text(errors="replace")) for q in reached)}
        if not more:
            break
        reached |= more
    assert not tools - reached, f"tools nothing reaches: {sorted(str(p.relative_to(REPO)) for p in tools - reached)}"


def test_the_layout_groups_the_tools_by_job():
    """Build tools in tools/, benchmarks in tools/bench/, maintenance checks in tools/checks/;
    every make target that runs a benchmark or a check runs it from its folder."""
    make = (REPO / "Makefile").read_text()
    for target, folder in (("ganseeds", "bench"), ("binaryablation", "bench"), ("sentiment-ablation", "bench"),
                           ("colab-check", "checks"), ("mutation-check", "checks")):
        recipe = make.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
        assert f"tools/{folder}/" in recipe, target
    assert not [p.name for p in (REPO / "tools").glob("*.py") if re.match(r"(gan|binary|sentiment)_", p.name)]


# ------------------------------------------------------------------ README

def test_the_readme_is_for_the_student_and_short():
    readme = (REPO / "README.md").read_text()
    lines, words = len(readme.splitlines()), len(readme.split())
    assert lines <= 80 and words <= 800, (lines, words)
    # the student's steps come before anything else a maintainer needs
    steps = [readme.index(s) for s in ("make pdf", "theory/student.tex", "Colab", "make test")]
    assert steps[1] < readme.index("## Open a notebook in Colab") < readme.index("## Tests")
    assert "make help" in readme
    # every docs page is linked, and each says first what it is for
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"
        body = [line for line in page.read_text().splitlines() if line.strip()]
        assert body[0].startswith("# ") and "for" in body[1] or "This page" in body[1], page.name


def test_the_generated_tables_list_every_notebook_and_question():
    import sync_notebooks
    readme, questions = (REPO / "README.md").read_text(), (REPO / "docs" / "questions.md").read_text()
    assert sync_notebooks.readme_block() in readme and sync_notebooks.questions_block() in questions
    for nb in BUNDLE.notebooks:
        assert f"`notebooks/{nb.file}`" in sync_notebooks.readme_block()
    for a in BUNDLE.assignments:
        for q in a.questions:
            assert f"| {q}" in sync_notebooks.questions_block()


# ------------------------------------------------------------------- cover

def test_the_cover_comes_from_its_template_and_a_field_is_added_in_two_files(tmp_path):
    fields, body = build_pdf.cover_template()
    assert fields == build_pdf.STUDENT_FIELDS
    for macro in fields:
        assert f"\\{macro}" in body, f"theory/cover.tex declares {macro} but does not show it"
        assert f"\\newcommand{{\\{macro}}}" in (REPO / "theory" / "student.tex").read_text()
    assert build_pdf._cover("A & B").count("A & B") == 1 and "<<title>>" not in build_pdf._cover("x")
    # a new field: one line and one use in the template, one \newcommand in the student file
    cover = tmp_path / "cover.tex"
    cover.write_text((REPO / "theory" / "cover.tex").read_text()
                     .replace("% field: ToolsUsed", "% field: Section | course section | 00X\n% field: ToolsUsed")
                     .replace(r"\textbf{Tools used:}", r"\textbf{Section:} \Section\par\textbf{Tools used:}"))
    student = tmp_path / "student.tex"
    student.write_text((REPO / "theory" / "student.tex").read_text() + "\\newcommand{\\Section}{00X}\n")
    new_fields, new_body = build_pdf.cover_template(cover)
    assert list(new_fields)[-2:] == ["Section", "ToolsUsed"] and r"\Section\par" in new_body
    read = build_pdf.read_student(student, new_fields)
    assert "Section" in read.unfilled and "\\newcommand{\\Section}" in read.definitions
    assert "course section" in build_pdf.draft_message(read)
    student.write_text(student.read_text().replace("\\newcommand{\\Section}{00X}", "\\newcommand{\\Section}{{B} & C}"))
    read = build_pdf.read_student(student, new_fields)
    assert "Section" not in read.unfilled and read.values["Section"] == "{B} & C"


def test_a_new_notebook_gets_a_results_row_from_its_headline(monkeypatch):
    """docs/results.md lists a notebook that tools/results_table.py has no rows for by its metrics' headline."""
    import results_table
    data = tomllib.loads(TEXT)
    data["assignment"].append({"slug": "next", "title": "Next", "course": "Next", "short": "Next", "sections": [],
                               "questions": ["Problem 1"], "answers": {"Problem 1": "binary_addition_rnn_beyond"}})
    data["notebook"] = [nb for nb in data["notebook"] if nb["stem"] != "binary_addition_rnn_beyond"]
    data["notebook"].append({"stem": "binary_addition_rnn_beyond", "topic": "next_topic", "title": "Next year's notebook"})
    monkeypatch.setattr(results_table, "BUNDLE", manifest.bundle_from(data, REPO / "bundle.toml", REPO))
    read = results_table._read
    monkeypatch.setattr(results_table, "_read", lambda topic: {"headline": "accuracy 91.00%", "profile": "quick",
                                                                "device": "cpu"} if topic == "next_topic" else read(topic))
    rows = results_table.rows()
    assert ("Next year's notebook", "accuracy 91.00%", "quick, cpu") in rows
    assert len(rows) > 1  # the other notebooks' rows stay
