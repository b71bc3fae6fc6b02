"""The bundle's one list of assignments and notebooks: bundle.toml, read.

    python3 tools/manifest.py stems      # every notebook stem, in PDF order (the Makefile reads this)
    python3 tools/manifest.py graded     # the graded notebooks' stems
    python3 tools/manifest.py check      # read and validate bundle.toml; one line on a fault

Standard library only: the Makefile reads it before the virtual environment
exists. Python 3.11+ parses with tomllib; older Pythons (3.10 on Ubuntu
22.04) with the small reader below, which knows the subset bundle.toml uses
(a test holds the two to the same result).
"""
from __future__ import annotations

import ast
import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "bundle.toml"


class ManifestError(SystemExit):
    """A fault in bundle.toml: one line naming the file and the entry."""

    def __init__(self, path: Path, message: str):
        super().__init__(f"FAILED: {path.name}: {message}")


@dataclass(frozen=True)
class Notebook:
    stem: str
    topic: str  # figures/<topic>/metrics.json
    title: str = ""  # table-of-contents title ("" for a companion: its own heading)
    part: str = ""  # what it answers, when not just the question
    companion_of: str = ""  # the graded notebook a companion extends
    tests: str = ""  # its own test module
    max_pages: int = 0  # a graded notebook's pages in its assignment's PDF, at most (0: no bound)
    max_code_lines: int = 0  # its visible non-blank code lines, at most (0: no bound)

    @property
    def graded(self) -> bool:
        return not self.companion_of

    @property
    def file(self) -> str:
        return f"{self.stem}.ipynb"


@dataclass(frozen=True)
class Assignment:
    slug: str
    title: str
    course: str
    short: str
    sections: list
    questions: list
    answers: dict = field(default_factory=dict)  # question -> graded notebook stem
    about: dict = field(default_factory=dict)  # question -> what it asks, in a few words
    preface: str = ""
    in_submission: str = ""


@dataclass(frozen=True)
class Bundle:
    assignments: tuple
    notebooks: tuple  # in PDF order: each graded notebook, then its companion
    section_course: dict

    def notebook(self, stem: str) -> Notebook:
        for nb in self.notebooks:
            if nb.stem == stem:
                return nb
        raise KeyError(stem)

    @property
    def stems(self) -> list:
        return [nb.stem for nb in self.notebooks]

    @property
    def graded(self) -> list:
        return [nb for nb in self.notebooks if nb.graded]

    def companions(self, stem: str) -> list:
        return [nb for nb in self.notebooks if nb.companion_of == stem]

    def assignment_of(self, stem: str) -> Assignment:
        """The assignment whose question the graded notebook `stem` (or a companion's graded one) answers."""
        nb = self.notebook(stem)
        graded = nb.companion_of or nb.stem
        return next(a for a in self.assignments if graded in a.answers.values())

    def question_of(self, stem: str) -> str:
        a = self.assignment_of(stem)
        return next(q for q, s in a.answers.items() if s == stem)

    def answers(self, stem: str) -> str:
        """'NYU Fall 2023, Problem 4': what a graded notebook answers, for tables."""
        nb = self.notebook(stem)
        return f"{self.assignment_of(stem).short}, {nb.part or self.question_of(stem)}"


# ------------------------------------------------------------------ reading

ASSIGNMENT_KEYS = {"slug": str, "title": str, "course": str, "short": str, "sections": list, "questions": list,
                   "answers": dict, "about": dict, "preface": str, "in_submission": str}
ASSIGNMENT_REQUIRED = ("slug", "title", "course", "short", "questions")
NOTEBOOK_KEYS = {"stem": str, "topic": str, "title": str, "part": str, "companion_of": str, "tests": str,
                 "max_pages": int, "max_code_lines": int}
NOTEBOOK_REQUIRED = ("stem", "topic")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")


def _entry(path: Path, kind: str, index: int, raw, keys: dict, required: tuple) -> dict:
    if not isinstance(raw, dict):
        raise ManifestError(path, f"[[{kind}]] number {index + 1} is not a table")
    where = f"[[{kind}]] {raw.get('slug') or raw.get('stem') or f'number {index + 1}'}"
    for key, value in raw.items():
        if key not in keys:
            raise ManifestError(path, f"{where}: unknown key {key!r}; known: {', '.join(keys)}")
        if not isinstance(value, keys[key]):
            raise ManifestError(path, f"{where}: {key} must be a {keys[key].__name__}; got {value!r}")
    for key in required:
        if not raw.get(key):
            raise ManifestError(path, f"{where}: {key} is missing")
    return raw


def parse(text: str, path: Path = MANIFEST) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        return parse_subset(text, path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ManifestError(path, f"not valid TOML: {err}") from None


def bundle_from(data: dict, path: Path = MANIFEST, repo: Path | None = None) -> Bundle:
    """Validate the parsed manifest; `repo` (when given) is checked for each notebook's and section's file."""
    unknown = set(data) - {"assignment", "notebook", "section_course"}
    if unknown:
        raise ManifestError(path, f"unknown top-level key(s) {sorted(unknown)}; known: assignment, notebook, "
                                  "section_course")
    notebooks = [Notebook(**_entry(path, "notebook", i, raw, NOTEBOOK_KEYS, NOTEBOOK_REQUIRED))
                 for i, raw in enumerate(data.get("notebook", []))]
    assignments = []
    for i, raw in enumerate(data.get("assignment", [])):
        raw = dict(_entry(path, "assignment", i, raw, ASSIGNMENT_KEYS, ASSIGNMENT_REQUIRED))
        assignments.append(Assignment(**raw))
    if not notebooks and not assignments:
        raise ManifestError(path, "declares no [[assignment]] and no [[notebook]]")
    stems = [nb.stem for nb in notebooks]
    for seen, what in ((stems, "notebook stem"), ([a.slug for a in assignments], "assignment slug"),
                       ([nb.topic for nb in notebooks], "notebook topic")):
        for name in seen:
            if seen.count(name) > 1:
                raise ManifestError(path, f"{what} {name!r} is declared twice")
            if not NAME.match(name):
                raise ManifestError(path, f"{what} {name!r}: use lower-case letters, digits, _ and -")
    graded = {nb.stem for nb in notebooks if nb.graded}
    for nb in notebooks:
        if nb.companion_of and nb.companion_of not in graded:
            raise ManifestError(path, f"[[notebook]] {nb.stem}: companion_of {nb.companion_of!r} is not a graded "
                                      f"notebook; graded: {', '.join(sorted(graded))}")
        if nb.graded and not nb.title:
            raise ManifestError(path, f"[[notebook]] {nb.stem}: a graded notebook needs a title")
        if repo is not None and not (repo / "notebooks" / nb.file).is_file():
            raise ManifestError(path, f"[[notebook]] {nb.stem}: notebooks/{nb.file} does not exist")
    answered = {}
    for a in assignments:
        for question, stem in a.answers.items():
            if question not in a.questions:
                raise ManifestError(path, f"[[assignment]] {a.slug}: answers names {question!r}, not one of its "
                                          f"questions {list(a.questions)}")
            if stem not in graded:
                raise ManifestError(path, f"[[assignment]] {a.slug}: {question} is answered by {stem!r}, which is "
                                          f"not a graded [[notebook]]; graded: {', '.join(sorted(graded))}")
            if stem in answered:
                raise ManifestError(path, f"notebook {stem!r} answers both {answered[stem]} and {a.slug}")
            answered[stem] = a.slug
        for question in a.about:
            if question not in a.questions:
                raise ManifestError(path, f"[[assignment]] {a.slug}: about names {question!r}, not one of its "
                                          f"questions {list(a.questions)}")
        for section in a.sections:
            if repo is not None and not (repo / "theory" / "sections" / f"{section}.tex").is_file():
                raise ManifestError(path, f"[[assignment]] {a.slug}: theory/sections/{section}.tex does not exist")
    for stem in graded - set(answered):
        raise ManifestError(path, f"[[notebook]] {stem}: no assignment's answers name it")
    # PDF order: each assignment's graded notebooks, each followed by its companions
    ordered = []
    for a in assignments:
        for stem in a.answers.values():
            ordered.append(next(nb for nb in notebooks if nb.stem == stem))
            ordered += [nb for nb in notebooks if nb.companion_of == stem]
    return Bundle(tuple(assignments), tuple(ordered), dict(data.get("section_course", {})))


@functools.cache
def _load_cached(path: str, text: str) -> Bundle:
    return bundle_from(parse(text, Path(path)), Path(path), Path(path).parent)


def load(path: Path | None = None) -> Bundle:
    """bundle.toml of this repository (or of the copy at `path`), validated."""
    path = Path(path or MANIFEST)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestError(path, f"cannot be read ({err.strerror}); it declares the bundle's assignments and "
                                  "notebooks") from None
    return _load_cached(str(path), text)


# -------------------------------------------- the subset reader (Python 3.10)

_KEY = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*")'


def _strip_comment(line: str) -> str:
    out, quoted, i = [], False, 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and quoted:
            out.append(line[i:i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            break
        out.append(ch)
        i += 1
    return "".join(out).strip()


def _value(text: str, path: Path, lineno: int):
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        table = {}
        for part in re.findall(rf'\s*({_KEY})\s*=\s*("(?:[^"\\]|\\.)*")\s*,?', text[1:-1]):
            table[_key(part[0])] = _value(part[1], path, lineno)
        return table
    if text.startswith("[") and text.endswith("]"):
        return [_value(s, path, lineno) for s in re.findall(r'"(?:[^"\\]|\\.)*"', text)]
    if text.startswith('"') and text.endswith('"'):
        return ast.literal_eval(text)  # a TOML basic string reads as a Python one for these escapes
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    raise ManifestError(path, f"line {lineno}: value {text!r} is outside what this Python can read "
                              "(strings, integers, arrays of strings, inline tables of strings; Python 3.11+ reads any TOML)")


def _key(text: str) -> str:
    return ast.literal_eval(text) if text.startswith('"') else text


def parse_subset(text: str, path: Path = MANIFEST) -> dict:
    data: dict = {}
    current = data
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line:
            continue
        if match := re.fullmatch(r"\[\[\s*([A-Za-z0-9_-]+)\s*\]\]", line):
            current = {}
            data.setdefault(match.group(1), []).append(current)
        elif match := re.fullmatch(r"\[\s*([A-Za-z0-9_-]+)\s*\]", line):
            current = data.setdefault(match.group(1), {})
        elif match := re.fullmatch(rf"({_KEY})\s*=\s*(.+)", line):
            current[_key(match.group(1))] = _value(match.group(2), path, lineno)
        else:
            raise ManifestError(path, f"line {lineno}: cannot read {raw.strip()!r}")
    return data


def main(argv: list) -> None:
    what = argv[1] if len(argv) > 1 else "check"
    bundle = load()
    if what == "stems":
        print(" ".join(bundle.stems))
    elif what == "graded":
        print(" ".join(nb.stem for nb in bundle.graded))
    elif what == "check":
        print(f"{MANIFEST.name}: {len(bundle.assignments)} assignments, {len(bundle.notebooks)} notebooks")
    else:
        raise SystemExit(f"usage: python3 tools/manifest.py stems|graded|check; got {what!r}")


if __name__ == "__main__":
    main(sys.argv)
