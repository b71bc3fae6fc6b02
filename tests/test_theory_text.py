"""The theory answers read as a student's answers (issue 19): the checks by code
are recorded with \\checked where they belong but printed only in an appendix
table (\\hwprintchecks, theory/preamble.tex), there are no notes arguing with
the CS230 printed solutions and no remarks about the project, and every
\\checked entry names a test that exists. The last test compiles the three
sections with the real preamble and reads the PDF."""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
THEORY = REPO / "theory"
SECTIONS = sorted((THEORY / "sections").glob("*.tex"))

# Phrases that are about the project, its history or its tests, not about the homework.
ASIDES = [
    "checked by code", "note on the reference", "tests/", "test\\_", "test_", "theory/code", "theory.code",
    "bench\\_attention", "we tried", "our copy", "did not survive", "survive in", "was lost", "is lost",
    "built by", "make theory", "make pdf", "make test", "make sync", "repository", "committed",
    "notebook helper", "hwcommon", ".json", "pytest",
]
TARGET = re.compile(r"target\s*(<|>|=|\\le|\\ge|of\s+\d)", re.IGNORECASE)


def braced(text: str, start: int) -> int:
    """Index just past the {...} group that opens at text[start]."""
    assert text[start] == "{", text[start:start + 40]
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "\\":
            continue
        if text[i] == "{" and text[i - 1] != "\\":
            depth += 1
        elif text[i] == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return i + 1
    raise AssertionError(f"unbalanced braces from {text[start:start + 60]!r}")


def without_comments(tex: str) -> str:
    return re.sub(r"(?<!\\)%.*", "", tex)


def checked_calls(tex: str) -> list:
    """(start, end, test, what) of every \\checked{test}{what} in comment-free tex."""
    calls = []
    for m in re.finditer(r"\\checked(?=\{)", tex):
        end_test = braced(tex, m.end())
        end_what = braced(tex, end_test)
        calls.append((m.start(), end_what, tex[m.end() + 1:end_test - 1], tex[end_test + 1:end_what - 1]))
    return calls


def printed(tex: str) -> str:
    """What a section prints in the answers: no comments, no \\checked entries (they go
    to the appendix table), no file names of included figures and tables."""
    tex = without_comments(tex)
    for start, end, _, _ in reversed(checked_calls(tex)):
        tex = tex[:start] + tex[end:]
    return re.sub(r"\\(includegraphics(\[[^\]]*\])?|input)\{[^}]*\}", "", tex)


@pytest.fixture(scope="module")
def sources() -> dict:
    return {p.stem: p.read_text() for p in SECTIONS}


def test_answers_carry_no_test_references_or_project_asides(sources):
    assert set(sources) >= {"cs230", "nyu_p1_p3", "uark_q1_q3"}
    found = []
    for stem, tex in sources.items():
        text = printed(tex)
        for number, line in enumerate(text.splitlines(), 1):
            low = line.lower()
            found += [f"{stem}: {phrase!r} in {line.strip()[:90]!r}" for phrase in ASIDES if phrase in low]
            if TARGET.search(line):
                found.append(f"{stem}: a target in {line.strip()[:90]!r}")
    assert not found, "\n".join(found)


def test_the_filter_finds_what_it_should():
    # the checks above are only as good as printed(): it keeps prose, drops \checked and comments
    tex = ("Prose we tried.\n% a comment with tests/x.py\n"
           "\\checked{tests/a.py::test_b}{what with $\\{x\\}$ and {nested}}\nMore prose.\n")
    text = printed(tex)
    assert "we tried" in text and "More prose" in text
    assert "tests/" not in text and "nested" not in text and "comment" not in text


def test_at_most_one_footnote_per_answer(sources):
    # where a printed reference solution is wrong, the answer says what is right, in one footnote at most
    for stem, tex in sources.items():
        for block in re.split(r"\\begin\{question\}", without_comments(tex))[1:]:
            assert len(re.findall(r"\\footnote(?![a-z])", block)) <= 1, f"{stem}: {block[:80]!r}"


def test_every_checked_entry_names_an_existing_test_inside_a_question(sources):
    entries = 0
    defined: dict = {}
    for stem, tex in sources.items():
        tex = without_comments(tex)
        first_question = tex.find("\\hwquestion{")
        for start, _, test, what in checked_calls(tex):
            entries += 1
            m = re.fullmatch(r"(tests/[\w./]+\.py)::(\w+)", test)
            assert m, f"{stem}: \\checked names {test!r}, not tests/<file>.py::<test function>"
            path, name = m.groups()
            assert (REPO / path).is_file(), f"{stem}: {path} does not exist"
            if path not in defined:
                tree = ast.parse((REPO / path).read_text())
                defined[path] = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
            assert name in defined[path], f"{stem}: {path} has no test function {name}"
            assert what.strip(), f"{stem}: \\checked{{{test}}} says nothing about what it checks"
            # the table names the question: the entry must come after the section's first \hwquestion
            assert 0 <= first_question < start, f"{stem}: \\checked{{{test}}} before any question"
    assert entries > 50


def test_preamble_records_checks_and_defines_the_table():
    preamble = without_comments((THEORY / "preamble.tex").read_text())
    assert re.search(r"\\newcommand\{\\hwprintchecks\}", preamble)
    definition = preamble[preamble.index("\\newcommand{\\checked}"):preamble.index("\\newcommand{\\HWCheckRow}")]
    assert "Checked by code" not in definition and "\\HWQuestionKey" in definition
    assert "longtable" in preamble


def test_nyu_p1b_argues_classification_not_generation(sources):
    # review correction: an RNN's benefit for image classification is images of any size
    # without resizing; a caption is generation, not classification
    tex = printed(sources["nyu_p1_p3"])
    answer = tex[tex.index("\\begin{question}{P1(b)}"):tex.index("\\hwquestion{Problem 2}")]
    assert "caption" not in answer.lower()
    assert "resiz" in answer and "any size" in answer


@pytest.mark.skipif(shutil.which("xelatex") is None, reason="needs xelatex")
def test_compiled_answers_have_no_checks_and_each_table_has_all_entries(tmp_path, sources):
    """All three sections, each followed by \\hwprintchecks the way the build's
    appendix calls it: the answer pages hold no test references, each table has one
    row per \\checked entry of its section, and a second call prints nothing."""
    pypdf = pytest.importorskip("pypdf")
    stems = ["cs230", "nyu_p1_p3", "uark_q1_q3"]
    body = "".join(f"\\hwcourse{{Course {i}}}\n\\input{{sections/{stem}}}\n\\hwendquestions\n"
                   f"\\hwprintchecks\n\\clearpage\nEndOfChecks{i}\n\\hwprintchecks\n\\clearpage\n"
                   for i, stem in enumerate(stems))
    (tmp_path / "doc.tex").write_text("\\documentclass[11pt]{article}\n\\input{preamble}\n"
                                      "\\begin{document}\n" + body + "\\end{document}\n")
    env = {"TEXINPUTS": f".:{THEORY}:{REPO}:", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    proc = subprocess.run(["xelatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:]
    pages = [page.extract_text() for page in pypdf.PdfReader(tmp_path / "doc.pdf").pages]
    section, in_table, table_text = 0, False, {i: "" for i in range(len(stems))}
    for text in pages:
        if "Checks by code" in text:
            assert not in_table, "a second \\hwprintchecks printed another table"
            in_table = True
        if f"EndOfChecks{section}" in text:
            assert in_table, f"no table for {stems[section]}"
            assert "Checks by code" not in text
            in_table = False
            section += 1
            continue
        if in_table:
            table_text[section] += text
        else:
            for phrase in ("Checked by code", "tests/", "test_"):
                assert phrase not in text, f"{phrase!r} on an answer page: {text[:200]!r}"
    assert section == len(stems)
    for i, stem in enumerate(stems):
        calls = checked_calls(without_comments(sources[stem]))
        files = {test.split("::")[0] for _, _, test, _ in calls}
        text = table_text[i]
        for file in files:
            assert file in text
        # one test name per row: every name starts with "test_", which never breaks
        names = len(re.findall(r"(?<![/\w])test_", text))
        assert names == len(calls), f"{stem}: {names} test names in its table, {len(calls)} \\checked entries"
        assert "Question 1" in text or "Problem 1" in text
