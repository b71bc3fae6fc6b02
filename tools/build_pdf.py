"""Build the PDFs and zips of the bundle.

    python tools/build_pdf.py theory                 -> build/theory.pdf
    python tools/build_pdf.py notebook build/notebooks/X.ipynb build/notebooks/X.pdf
    python tools/build_pdf.py documents --notebooks build/notebooks
        -> build/submission.pdf, build/<assignment>.pdf, .zip and .pages.json
    (add --student FILE before the subcommand for another cover than theory/student.tex)

Every PDF is one LaTeX document (xelatex via latexmk): the cover page fed by
theory/student.tex, a table of contents, the theory sections, and the executed
notebooks (each converted by nbconvert with DejaVu fonts, then included page by
page with pdfpages so that the table of contents and the PDF bookmarks list
them).

Gradescope layout: every top-level question, and every notebook (each answers
one question), starts on a new page, and each of its pages carries
"<course> --- <question>" in its header (\\hwquestion in theory/preamble.tex).
LaTeX writes the question of every page it ships out to <job>.qpages; from it
the build writes build/<assignment>.pages.json ({"questions": {"Question 1":
[3, 4], ...}, "notebooks": {...}, "appendix": [...]}) and prints the table at
the end of its log.

Per assignment: the theory, the graded notebook (the question it answers),
then an appendix "Beyond the homework": the companion notebook
notebooks/<stem>_beyond.ipynb when there is one, and the table of the
theory's checks by code (\\hwprintchecks). The page map
build/<assignment>.pages.json gives the pages of each question, of each
notebook (graded and companion) and of the appendix. Each notebook's first
page says which run it shows (metadata.hw_run: profile, device, date), and a
smoke run says in bold at its top that its numbers mean nothing; the end of
the log names the run of every graded notebook when one of them is not its
committed run or is below quick.

Builds recover by themselves: each LaTeX document is compiled in a fresh
folder seeded with the last successful build's state and swapped in only on
success, so a failed or interrupted run never blocks the next. The upload set
(submission.pdf, the per-assignment PDFs, zips and page maps) is written into
a new folder build/.sets/<id>/ and switched in at once (build/upload is a
link to it; build/submission.pdf and the others link into build/upload/), so
it appears together or not at all. Every failure ends in one `FAILED:` line
naming the step and the file (a full disk with the space left; documents that
fail side by side in a line each). Ctrl-C and SIGTERM are named once for the
whole make, whichever of its jobs they hit (tools/faults.py), and leave every
finished file; the next success removes the attempt and failed folders.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
import zipfile
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atomic import atomic_output, free_mb  # noqa: E402
import faults  # noqa: E402
import manifest  # noqa: E402
import run_record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
THEORY = REPO / "theory"
TEMPLATE_DIR = Path(__file__).resolve().parent / "nbconvert_template"
STUDENT_FILE = THEORY / "student.tex"

BUNDLE = manifest.load()  # bundle.toml: the assignments and notebooks, in PDF order
Assignment = manifest.Assignment
ASSIGNMENTS = list(BUNDLE.assignments)


def course_of_section(stem: str) -> str:
    """The header course of a section in a PDF that holds several assignments:
    a section shared by two assignments (NYU Problems 1-3) names both."""
    courses = [a.course for a in ASSIGNMENTS if stem in a.sections]
    return BUNDLE.section_course.get(stem) or " / ".join(courses)


# ------------------------------------------------------- failures, one line

class Failure(Exception):
    """A step that failed: reported as one FAILED line (details before it); `others`: the
    steps that failed beside it (LaTeX runs side by side), one FAILED line each."""

    def __init__(self, step: str, detail: str = "", code: int = 1, others: tuple = ()):
        super().__init__(step)
        self.step, self.detail, self.code, self.others = step, detail, code, list(others)


Stopped = faults.Stopped  # SIGINT or SIGTERM: a BaseException, never taken for a step's failure


STEP = {"now": "starting"}  # the step running, for the FAILED line of an interruption
CHILDREN: set = set()  # LaTeX processes running (killed on Ctrl-C / SIGTERM)
CHILDREN_LOCK = threading.Lock()
STOPPING = threading.Event()


def step(text: str) -> None:
    STEP["now"] = text


def disk_note(folder: Path, text: str = "") -> str:
    free = free_mb(folder)
    full = (free is not None and free < 5) or re.search(r"No space left|I can't write on file|Disk quota|File too large",
                                                        text)
    return f" (the disk is full: {free:.1f} MB free in {folder}; free some space and run it again)" if full else ""


def atomic_copy(src: Path, dst: Path) -> None:
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)


def latex_escape(text: str) -> str:
    """Plain text -> LaTeX: every character printed as written."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&", "_": r"\_",
                  # TeX ligatures (-- ---, `` '', ?` !`) would change what the student wrote
                  "-": "{-}", "`": "{`}", "'": "{'}", "<": "{<}", ">": "{>}"}


# ------------------------------------------------------------ student file

COVER_FILE = THEORY / "cover.tex"  # the cover's template: <<title>>, and the fields it declares


def cover_template(path: Path = COVER_FILE) -> tuple:
    """(fields, body): each "% field: Macro | what it is | placeholder" line of the
    template, as {macro: (what, placeholder)}, and the LaTeX without comment lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SystemExit(f"FAILED: cover: {path}: {err.strerror}") from None
    fields = {}
    for match in re.finditer(r"^%\s*field:\s*(\w+)\s*\|\s*([^|]+?)\s*\|\s*(.+?)\s*$", text, flags=re.M):
        fields[match.group(1)] = (match.group(2), match.group(3))
    body = "\n".join(line for line in text.splitlines() if not line.startswith("%"))
    if "<<title>>" not in body or not fields:
        raise SystemExit(f"FAILED: cover: {path}: needs <<title>> and at least one '% field:' line")
    return fields, body + "\n"


# Macro -> (what it is, text that is still there while the student has not filled it in).
STUDENT_FIELDS = cover_template()[0]

# The cover sets the student's fields in this font (Latin, Greek, Cyrillic);
# a character it lacks is set in the first installed font that has it
# (Noto for CJK, Arabic, Devanagari and the rest: tools/setup_system.sh).
COVER_FONTS = ("Noto Serif", "DejaVu Serif", "DejaVu Sans")
RTL_SCRIPTS = ("ARABIC", "HEBREW", "SYRIAC", "THAANA", "NKO")
FONTSPEC_SCRIPTS = {"ARABIC": "Arabic", "HEBREW": "Hebrew", "DEVANAGARI": "Devanagari", "BENGALI": "Bengali",
                    "GURMUKHI": "Gurmukhi", "GUJARATI": "Gujarati", "TAMIL": "Tamil", "TELUGU": "Telugu",
                    "KANNADA": "Kannada", "MALAYALAM": "Malayalam", "THAI": "Thai", "CJK": "CJK",
                    "HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "Hangul", "ARMENIAN": "Armenian",
                    "GEORGIAN": "Georgian", "ETHIOPIC": "Ethiopic", "SINHALA": "Sinhala", "KHMER": "Khmer"}
FONT_FIX = "Debian/Ubuntu: apt-get install fonts-noto-core fonts-noto-cjk (tools/setup_system.sh does it)"


def _fc_families(pattern: str) -> list:
    try:
        out = subprocess.run(["fc-list", "--format", "%{family[0]}|%{style[0]}\n", pattern],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split("|")[0] for line in out.splitlines()
                   if "|" in line and re.search(r"Regular|Book|Roman", line.split("|")[1])})


@functools.cache
def cover_font() -> str | None:
    return next((f for f in COVER_FONTS if f in _fc_families(f":family={f}")), None)


@functools.cache
def _charset(family: str) -> list:
    """(low, high) code point ranges of an installed font's regular face."""
    out = subprocess.run(["fc-list", "--format", "%{charset}\n", f"{family}:style=Regular"],
                         capture_output=True, text=True).stdout.split("\n")[0]
    if not out:
        out = subprocess.run(["fc-list", "--format", "%{charset}\n", f"{family}"],
                             capture_output=True, text=True).stdout.split("\n")[0]
    ranges = []
    for part in out.split():
        low, _, high = part.partition("-")
        ranges.append((int(low, 16), int(high or low, 16)))
    return ranges


def _has(family: str, ch: str) -> bool:
    return any(low <= ord(ch) <= high for low, high in _charset(family))


def _font_rank(family: str) -> tuple:
    order = ("Noto Serif CJK SC", "Noto Sans CJK SC", "Noto Serif CJK", "Noto Sans CJK", "Noto Serif ", "Noto Naskh Arabic",
             "Noto Sans ", "Noto ", "DejaVu")
    return (next((i for i, prefix in enumerate(order) if family.startswith(prefix)), len(order)), family)


@functools.cache
def font_for(ch: str) -> str | None:
    """The family the cover uses for character ch (None: no installed font has it)."""
    main = cover_font()
    if main and _has(main, ch):
        return main
    candidates = [f for f in _fc_families(f":charset={ord(ch):x}") if "Emoji" not in f and "Color" not in f]
    return min(candidates, key=_font_rank) if candidates else None


def script_of(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return name.split()[0] if name else ""


@dataclass
class Student:
    values: dict  # macro -> its text as written (plain text, whitespace collapsed)
    definitions: str  # LaTeX: the fonts and \newcommand lines, values escaped
    unfilled: list  # macros that still hold their placeholder
    path: Path
    fields: dict  # the cover template's fields: macro -> (what it is, placeholder)


def student_where(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _braced_value(text: str, start: int, name: str, path: Path) -> str:
    """The text between the brace at text[start] and its matching brace."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{" and text[i - 1] != "\\":
            depth += 1
        elif text[i] == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
    raise SystemExit(f"FAILED: cover: {student_where(path)}: \\{name}: unbalanced braces in its value "
                     "(braces must pair; every character is printed as written)")


def cover_field(name: str, value: str, path: Path, fonts: dict) -> str:
    """One field as LaTeX: specials escaped, each run of characters in a font
    that has them (right-to-left scripts set right to left), line breaks
    allowed inside long words (an e-mail) and between CJK characters. A
    character no installed font has stops the build, naming the field."""
    out, run_font, run = [], None, []

    def flush():
        if not run:
            return
        text = "".join(run)
        if run_font is None:
            out.append(text)
        else:
            key = fonts.setdefault(run_font, "\\hwcoverfont" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(fonts)])
            out.append("{" + key + " " + text + "}")
        run.clear()

    words = value.split(" ")
    for w, word in enumerate(words):
        long_word = len(word) > 18
        for i, ch in enumerate(word):
            if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") and ch not in "\u200d\u200c":
                raise SystemExit(f"FAILED: cover: {student_where(path)}: \\{name}: character U+{ord(ch):04X} "
                                 f"cannot be printed (a control, private-use or unassigned code point): remove it")
            family = font_for(ch) if ord(ch) > 127 or cover_font() else None
            if family is None and (ord(ch) > 127 or cover_font()):
                raise SystemExit(f"FAILED: cover: {student_where(path)}: \\{name}: no installed font has "
                                 f"{ch!r} (U+{ord(ch):04X}, {unicodedata.name(ch, 'unnamed')}); {FONT_FIX}")
            if family != run_font:
                flush()
                run_font = family
            script = script_of(ch)
            if family is not None and family != cover_font() and script in FONTSPEC_SCRIPTS:
                FONT_OPTIONS.setdefault(family, f"Script={FONTSPEC_SCRIPTS[script]}")
            piece = LATEX_SPECIALS.get(ch, ch)
            if script in RTL_SCRIPTS:
                piece = "\\beginR " + piece + "\\endR "
            run.append(piece)
            cjk = script in ("CJK", "HIRAGANA", "KATAKANA", "HANGUL")
            if (long_word or cjk) and i < len(word) - 1:
                run.append("\\hspace{0pt}")  # a line may break here
        if w < len(words) - 1:
            run.append(" ")
    flush()
    latex = "".join(out)
    # one right-to-left segment per run of right-to-left words (the spaces between them inside it)
    return latex.replace("\\endR  \\beginR ", " ").replace("\\endR \\beginR ", "")


FONT_OPTIONS: dict = {}  # family -> fontspec options (the script of the characters set in it)


def read_student(path: Path, fields: dict | None = None) -> Student:
    """Read the cover fields (those the template theory/cover.tex declares) as
    plain text (comment lines skipped), escape them, and note which still hold
    their placeholder."""
    fields = fields or STUDENT_FIELDS
    if not path.exists():
        raise SystemExit(f"FAILED: cover: {path}: no such student file")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SystemExit(f"FAILED: cover: {student_where(path)} is not UTF-8 text ({err.reason} at byte "
                         f"{err.start}): save it as UTF-8") from None
    text = "\n".join(line for line in raw.splitlines() if not line.lstrip().startswith("%"))
    values = {}
    for match in re.finditer(r"\\(?:re)?newcommand\s*\{\\(\w+)\}\s*(?=\{)", text):
        name = match.group(1)
        values[name] = " ".join(_braced_value(text, match.end(), name, path).split())
    definitions, unfilled, fonts = [], [], {}
    main = cover_font()
    if main:
        fonts[main] = "\\hwcoverfontmain"
    for name, (_, placeholder) in fields.items():
        if name not in values:
            raise SystemExit(f"FAILED: cover: {student_where(path)}: \\{name} is missing "
                             f"(write \\newcommand{{\\{name}}}{{...}})")
        value = values[name]
        if not value or placeholder in value:
            unfilled.append(name)
        body = cover_field(name, value, path, fonts).replace("{\\hwcoverfontmain ", "{")
        font = "\\hwcoverfontmain" if main else ""
        definitions.append(f"\\newcommand{{\\{name}}}{{{{{font}\\hyphenpenalty=10000\\exhyphenpenalty=10000 "
                           f"{body}}}}}")
    uses_rtl = any(script_of(ch) in RTL_SCRIPTS for v in values.values() for ch in v)
    font_lines = [f"\\newfontfamily{key}{{{family}}}[{FONT_OPTIONS.get(family, '')}]" for family, key in fonts.items()]
    preamble = "\n".join(font_lines + (["\\TeXXeTstate=1"] if uses_rtl else []))
    return Student({name: values[name] for name in fields}, preamble + "\n" + "\n".join(definitions),
                   unfilled, path, fields)


def draft_message(student: Student) -> str:
    fields = ", ".join(student.fields[name][0] for name in student.unfilled)
    return f"DRAFT: fill in {student_where(student.path)} ({fields}), then rebuild"


def check_cover_glyphs(student: Student, log: str, name: str) -> None:
    """A character of a field that LaTeX still could not set stops the build."""
    missing = re.findall(r"Missing character: There is no (.) \(U\+([0-9A-F]+)\) in font ([^!\n]*)", log)
    for ch, code, font in missing:
        for field_name, value in student.values.items():
            if ch in value:
                raise Failure(f"cover: {student_where(student.path)}: \\{field_name}: {ch!r} (U+{code}) has no "
                              f"glyph in font {font.strip()} ({name}.log); {FONT_FIX}")


# ----------------------------------------------------------- notebook -> PDF

BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)\)")
WIDGET = "application/vnd.jupyter.widget-view+json"
REMOVE_TAG = "remove_cell"  # cells the notebook needs to run but a grader need not read
RUN_STAMP = "Run shown"
# At the top of the first page of a notebook shown from a smoke run (seconds of tiny data and epochs).
SMOKE_WARNING = "SMOKE RUN — a test of the code, not an answer: its numbers mean nothing"


def run_stamp(nb) -> str:
    """Which run the outputs come from: profile, device and date (the commit stays in metadata.hw_run)."""
    record = run_record.record_of(nb)
    if record is None:
        return f"*{RUN_STAMP}: no run record in this notebook (executed outside `make`).*"
    return f"*{RUN_STAMP}: {run_record.describe(record, commit=False)}.*"


def smoke_run(nb) -> bool:
    record = run_record.record_of(nb)
    return record is not None and record.get("profile") == "smoke"


def prepare_notebook(nb) -> None:
    """What a reader of the PDF needs, not the live notebook: the Colab badge as
    a link (a remote SVG cannot be embedded), no widget outputs, a title, under
    the title's cell which run the outputs come from, and, for a smoke run, a
    bold line right under the title (the top of the page) saying that its
    numbers mean nothing."""
    import nbformat
    title, title_index = None, None
    for index, cell in enumerate(nb.cells):
        if REMOVE_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "markdown":
            cell.source = BADGE.sub(r"[Open in Colab](\1)", cell.source)
            if title is None:
                match = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
                title = match.group(1).strip() if match else None
                title_index = index if match else None
        elif cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if WIDGET not in o.get("data", {})]
    stamp = nbformat.v4.new_markdown_cell(run_stamp(nb))
    nb.cells.insert(0 if title_index is None else title_index + 1, stamp)
    if smoke_run(nb):
        warning = f"**{SMOKE_WARNING}.**"
        if title_index is None:
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(warning))
        else:  # the line after the heading, in the title's own cell
            cell = nb.cells[title_index]
            cell.source = re.sub(r"^(#\s+.+)$", lambda m: f"{m.group(1)}\n\n{warning}\n", cell.source, count=1,
                                 flags=re.M)
    nb.metadata["title"] = title or "Notebook"


def notebook_pdf(source: Path, target: Path) -> None:
    import nbformat
    from nbconvert import PDFExporter
    from traitlets.config import Config

    step(f"converting {source} to PDF")
    nb = nbformat.read(source, as_version=4)
    prepare_notebook(nb)
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {REMOVE_TAG}
    exporter = PDFExporter(config=config, template_file=str(TEMPLATE_DIR / "dejavu.tex.j2"))
    exporter.latex_count = 1  # one pass: a second adds only bookmarks and link targets, which \includepdf drops
    try:
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": source.stem, "path": str(source.parent)}})
    except Exception as err:  # nbconvert's LatexFailed carries the whole log
        if faults.STOPPED:  # xelatex got the same Ctrl-C: the interruption, not the conversion, stopped it
            raise Stopped(faults.STOPPED["signal"]) from None
        log = str(err)
        raise Failure(f"converting {source} to PDF (nbconvert + xelatex){disk_note(target.parent, log)}",
                      log[-3000:]) from None
    with atomic_output(target) as tmp:
        Path(tmp).write_bytes(body)
    print(f"notebook PDF: {target}")


def notebook_title(path: Path) -> str:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return path.stem
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            text = "".join(cell.get("source", ""))
            match = re.search(r"^#\s+(.+)$", text, flags=re.M)
            if match:
                return re.sub(r"[*_`]", "", match.group(1)).strip()
    return path.stem


def companions(a: Assignment) -> list:
    """The companion notebooks of an assignment's graded notebooks (bundle.toml)."""
    return [nb.stem for stem in a.answers.values() for nb in BUNDLE.companions(stem)]


# ------------------------------------------------------------ LaTeX drivers

APPENDIX = "Beyond the homework"


def _cover(title: str) -> str:
    return "\n" + cover_template()[1].replace("<<title>>", title)


def _include_notebook(stem: str, pdf_dir: Path, toc: str, level: str = "subsection", extra: str = "") -> str:
    pdf = (pdf_dir / f"{stem}.pdf").resolve()
    if not pdf.exists():
        raise Failure(f"LaTeX driver: missing notebook PDF {pdf} (make builds it from build/notebooks/{stem}.ipynb)")
    depth = {"section": 1, "subsection": 2}[level]
    return (f"\\includepdf[pages=-,pagecommand={{\\thispagestyle{{hw}}\\hwnotebookpage{{{stem}}}}},"
            f"addtotoc={{{extra}1,{level},{depth},{{{toc}}},nb:{stem}}}]{{{pdf.as_posix()}}}\n")


def _notebook_question(course: str, question: str, stem: str, pdf_dir: Path) -> str:
    """A notebook that answers `question`: new page, the question's header on
    every page, a table-of-contents entry at its first page."""
    title = f"{BUNDLE.notebook(stem).title} (notebook)"
    return (f"\\hwcourse{{{course}}}\\hwstartquestion{{{question}}}\n"
            + _include_notebook(stem, pdf_dir, f"{question}: {latex_escape(title)} ({latex_escape(stem)}.ipynb)"))


def appendix_tex(course: str, stems: list, pdf_dir: Path) -> str:
    """'Beyond the homework': the companion notebooks, then the theory's checks
    by code (\\hwprintchecks, theory/preamble.tex), on pages of their own."""
    heading = f"Appendix: {APPENDIX}"
    tex = f"\\hwcourse{{{course}}}\\hwstartquestion{{{APPENDIX}}}\n"
    for i, stem in enumerate(stems):
        title = latex_escape(notebook_title(REPO / "notebooks" / f"{stem}.ipynb"))
        section = f"1,section,1,{{{heading}}},app:{stem}," if i == 0 else ""
        tex += _include_notebook(stem, pdf_dir, f"Companion notebook: {title} ({latex_escape(stem)}.ipynb)",
                                 extra=section)
    opening = "" if stems else (f"\\section*{{{heading}}}\\phantomsection"
                                f"\\addcontentsline{{toc}}{{section}}{{{heading}}}\n")
    # the measurements the answers cite (\\hwmeasured), then the checks, each on a new page; the
    # appendix heading once, before the first of them, when no companion opened the appendix
    opened = "\\ifhwappendixopen\\else" + opening + "\\hwappendixopentrue\\fi\n" if opening else ""
    tex += ("\\newif\\ifhwappendixopen\n"
            "\\ifdefined\\hwprintmeasured\\ifx\\HWMeasured\\empty\\else\n\\clearpage\n" + opened
            + "\\hwprintmeasured[subsection]\n\\fi\\fi\n"
            "\\ifdefined\\hwprintchecks\\ifx\\HWChecks\\empty\\else\n\\clearpage\n" + opened
            + "\\hwprintchecks[subsection]\n\\fi\\fi\n")
    return tex + "\\hwendquestions\n"


def _bibliography() -> str:
    bibs = sorted(p.stem for p in THEORY.glob("*.bib"))
    if not bibs:
        return ""
    return "\\bibliographystyle{plainnat}\n\\bibliography{" + ",".join(bibs) + "}\n"


# Each page of a notebook writes "page|nb:<stem>" to <job>.qpages (the page map).
NOTEBOOK_PAGE = ("\\newcommand{\\hwnotebookpage}[1]{\\write\\hwpagesout{\\the\\ReadonlyShipoutCounter|nb:#1}}\n")


def driver(title: str, body: str, student: Student) -> str:
    draft = f"\\hwdraft{{{latex_escape(draft_message(student))}}}\n" if student.unfilled else ""
    return ("\\documentclass[11pt]{article}\n\\input{preamble}\n" + student.definitions + "\n" + NOTEBOOK_PAGE
            + draft + f"\\title{{{title}}}\n\\begin{{document}}\n{_cover(title)}\n{body}\n"
            + "\\hwendquestions\n" + _bibliography() + "\\end{document}\n")


def sections_tex(stems, course=None) -> str:
    """Each section with the course its page headers name; the questions end
    with a page break so that nothing after them shares their last page."""
    return "".join(f"\\hwcourse{{{course or course_of_section(s)}}}\n\\input{{sections/{s}}}\n\\hwendquestions\n"
                   for s in stems)


# ----------------------------------------------------------- LaTeX runs

def _discard_dead_attempts(tex_root: Path) -> None:
    """Remove the attempt folders (and half-swapped old ones) of builds that were killed (their pid is gone)."""
    for folder in [*tex_root.glob(".*.attempt-*"), *tex_root.glob(".*.old-*")] if tex_root.is_dir() else []:
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _swap_dir(new: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def compile_tex(name: str, tex: str, tex_root: Path, student: Student) -> tuple:
    """latexmk -xelatex on <name>.tex in a fresh folder seeded with the last
    successful build's state (tex_root/<name>/), swapped in for it only when
    the build succeeds: a failed build leaves the last good state (and its own
    log in tex_root/<name>.failed/, removed by the next success); a stopped one
    leaves nothing. Returns (PDF, page map). Runs side by side with the other
    documents: its failures name this document's step themselves (a full disk
    with the space left), not the step another thread set last."""
    doing = {"now": "starting"}
    work = tex_root / f".{name}.attempt-{os.getpid()}"
    try:
        return _compile_tex(name, tex, tex_root, student, work, doing)
    except OSError as err:
        text = faults.os_error_text(err, tex_root)
        shutil.rmtree(work, ignore_errors=True)  # the space it took
        raise Failure(f"LaTeX build of {name}: {doing['now']}: {text}") from None


def _compile_tex(name: str, tex: str, tex_root: Path, student: Student, work: Path, doing: dict) -> tuple:
    good = tex_root / name
    step(f"LaTeX build of {name} ({work}/{name}.tex)")
    shutil.rmtree(work, ignore_errors=True)
    if good.is_dir():
        doing["now"] = f"copying the last good build {faults.shown(good)} to {work.name}"
        shutil.copytree(good, work, symlinks=True)
    doing["now"] = f"writing {faults.shown(work / name)}.tex"
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{name}.tex").write_text(tex, encoding="utf-8")
    doing["now"] = f"running latexmk in {faults.shown(work)}"
    env = dict(os.environ)
    sep = os.pathsep
    env["TEXINPUTS"] = f".{sep}{THEORY}{sep}{REPO}{sep}"
    env["BIBINPUTS"] = f".{sep}{THEORY}{sep}"
    cmd = ["latexmk", "-xelatex", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", f"{name}.tex"]
    with CHILDREN_LOCK:
        if STOPPING.is_set():
            raise Failure(f"LaTeX build of {name}: not started (the build is stopping)")
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", start_new_session=True)
        CHILDREN.add(proc)
    try:
        stdout, _ = proc.communicate()
    finally:
        with CHILDREN_LOCK:
            CHILDREN.discard(proc)
    if STOPPING.is_set():  # killed by the build that is stopping: not a failure of this document
        raise Failure(f"LaTeX build of {name}: stopped")
    log_path = work / f"{name}.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    if proc.returncode != 0 or not (work / f"{name}.pdf").is_file():
        failed = tex_root / f"{name}.failed"
        doing["now"] = f"keeping the failed build in {faults.shown(failed)}"
        shutil.rmtree(failed, ignore_errors=True)
        os.replace(work, failed)
        errors = [line for line in log.splitlines() if line.startswith(("!", "./", "/")) and "rror" in line]
        where = next((e for e in errors if e.startswith(("./", "/"))), errors[0] if errors else "")
        raise Failure(f"LaTeX build of {name}: {where or 'latexmk failed'} (log: {failed / (name + '.log')})"
                      f"{disk_note(tex_root, log + stdout)}", "\n".join(errors[-20:]) + "\n" + stdout[-3000:])
    problems = [line for line in log.splitlines()
                if re.search(r"(Reference|Citation) .* undefined|There were undefined", line)]
    if problems:
        shutil.rmtree(work, ignore_errors=True)
        raise Failure(f"LaTeX build of {name}: undefined references ({log_path.name})", "\n".join(problems[:20]))
    check_cover_glyphs(student, log, name)
    doing["now"] = f"swapping {work.name} in for {faults.shown(good)}"
    _swap_dir(work, good)
    shutil.rmtree(tex_root / f"{name}.failed", ignore_errors=True)  # an earlier failure's log: this one built
    return good / f"{name}.pdf", read_page_map(good / f"{name}.qpages")


def read_page_map(path: Path) -> dict:
    """<job>.qpages holds one "page|key" line per page shipped under a
    question header ("page|Question 2") and per notebook page ("page|nb:<stem>")."""
    pages: dict = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        page, _, key = line.partition("|")
        if key and int(page) not in pages.setdefault(key, []):
            pages[key].append(int(page))
    return pages


def split_page_map(a: Assignment, raw: dict) -> dict:
    """{"questions": {question: pages}, "notebooks": {stem: pages}, "appendix": pages}."""
    questions = {k: v for k, v in raw.items() if not k.startswith("nb:") and k != APPENDIX}
    if list(questions) != a.questions:
        raise Failure(f"page map of {a.slug}.pdf: questions by page {list(questions)}, expected {a.questions}")
    return {"questions": questions,
            "notebooks": {k[3:]: v for k, v in raw.items() if k.startswith("nb:")},
            "appendix": raw.get(APPENDIX, [])}


def page_ranges(pages: list) -> str:
    """[3, 4, 5, 8] -> '3-5, 8'."""
    if not pages:
        return "-"
    runs, start = [], pages[0]
    for prev, page in zip(pages, pages[1:] + [None]):
        if page != prev + 1:
            runs.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = page
    return ", ".join(runs)


def page_table(a: Assignment, pages: dict) -> str:
    lines = [f"{a.slug}.pdf (pages to tag in Gradescope; {a.slug}.pages.json):"]
    lines += [f"  {question:<12} {page_ranges(p)}" for question, p in pages["questions"].items()]
    lines += [f"  notebook {stem}.ipynb: {page_ranges(p)}" for stem, p in pages["notebooks"].items()]
    if pages["appendix"]:
        lines.append(f"  appendix ({APPENDIX}): {page_ranges(pages['appendix'])}")
    return "\n".join(lines)


def _checks_after(stems) -> str:
    return ("\\ifdefined\\hwprintmeasured\\hwprintmeasured\\fi\n"
            "\\ifdefined\\hwprintchecks\\hwprintchecks\\fi\n\\clearpage\n")


def build_theory(build: Path, student: Student, only: list | None = None) -> None:
    """All written answers in one PDF (each shared section once), each
    section followed by its checks by code."""
    stems = list(dict.fromkeys(s for a in ASSIGNMENTS for s in a.sections))
    if only:
        unknown = set(only) - set(stems)
        if unknown:
            raise SystemExit(f"FAILED: theory: unknown section(s) {sorted(unknown)}; known: {stems}")
        stems = [s for s in stems if s in only]
    name = "theory" if not only else "theory-" + "-".join(stems)
    body = "".join(sections_tex([s]) + _checks_after([s]) for s in stems)
    _discard_dead_attempts(build / "tex")
    pdf, _ = compile_tex(name, driver("Written answers", body, student), build / "tex", student)
    step(f"writing {build / (name + '.pdf')}")
    atomic_copy(pdf, build / f"{name}.pdf")
    print(f"PDF: {build / (name + '.pdf')}")


UPLOAD_LINK = "upload"  # build/upload -> .sets/<id>: the current upload set


def upload_names() -> list:
    return (["submission.pdf"] + [f"{a.slug}.{ext}" for a in ASSIGNMENTS for ext in ("pdf", "zip", "pages.json")])


def switch_upload_set(build: Path, new_set: Path) -> None:
    """Make new_set the upload set at once: one rename of the build/upload link;
    build/<file> are links into build/upload/ (made once)."""
    link = build / UPLOAD_LINK
    tmp = build / f".{UPLOAD_LINK}.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(new_set, build), tmp)
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(tmp, link)
    for name in upload_names():
        path = build / name
        if not (path.is_symlink() and os.readlink(path) == f"{UPLOAD_LINK}/{name}"):
            tmp_link = build / f".{name}.link.{os.getpid()}"
            if tmp_link.is_symlink() or tmp_link.exists():
                tmp_link.unlink()
            os.symlink(f"{UPLOAD_LINK}/{name}", tmp_link)
            os.replace(tmp_link, path)
    for old in (build / ".sets").iterdir():
        if old.resolve() != new_set.resolve():
            shutil.rmtree(old, ignore_errors=True)


def build_documents(build: Path, notebooks_dir: Path, student: Student) -> list:
    """notebooks_dir holds the notebooks the PDFs show and their PDFs. The
    merged PDF and the one of each assignment are independent LaTeX runs,
    compiled side by side (one per CPU core). Returns the page table of each
    assignment PDF, for the end of the log."""
    documents = {}  # name -> LaTeX driver
    parts = ""
    for a in ASSIGNMENTS:
        notebooks = "".join(_notebook_question(a.course, q, stem, notebooks_dir) for q, stem in a.answers.items())
        appendix = appendix_tex(a.course, companions(a), notebooks_dir)
        preface = a.preface + "\n\n" if a.preface else ""
        merged = a.in_submission + "\n\n" if a.in_submission else preface + sections_tex(a.sections)
        parts += f"\\clearpage\n\\part{{{a.title}}}\n" + merged + notebooks + appendix + "\\hwendquestions\n"
        documents[a.slug] = driver(a.title, preface + sections_tex(a.sections, a.course) + notebooks + appendix,
                                   student)
    documents = {"submission": driver("Deep-learning homework: written answers and notebooks", parts, student),
                 **documents}

    def compile_document(name: str) -> tuple:
        try:
            return compile_tex(name, documents[name], build / "tex", student)
        except Failure:
            raise
        except Exception as err:  # noqa: BLE001 - named with its document, in one line
            raise Failure(f"LaTeX build of {name}: {type(err).__name__}: {err}") from None

    _discard_dead_attempts(build / "tex")
    pool = ThreadPoolExecutor(max_workers=max(1, len(os.sched_getaffinity(0))))
    try:
        futures = {pool.submit(compile_document, name): name for name in documents}
        pending, failed = set(futures), []
        while pending and not failed:  # short waits, so that Ctrl-C and SIGTERM reach the main thread
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            failed = [f.exception() for f in futures if f.done() and not f.cancelled() and f.exception()]
        if failed:  # the documents that failed by now, each in its own line; the others are stopped
            raise Failure(failed[0].step, failed[0].detail, others=[f.step for f in failed[1:]])
        results = {name: future.result() for future, name in futures.items()}
    except BaseException:
        STOPPING.set()  # no new LaTeX run starts; the running ones are killed
        _kill_children()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    new_set = build / ".sets" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    try:
        tables = write_upload_set(new_set, results, notebooks_dir)
    except OSError as err:
        text = faults.os_error_text(err, build)
        shutil.rmtree(new_set, ignore_errors=True)  # the space it took; the upload set stays the last one
        raise Failure(f"{STEP['now']}: {text}") from None
    step(f"switching {build / UPLOAD_LINK} to {new_set}")
    switch_upload_set(build, new_set)
    return tables


def write_upload_set(new_set: Path, results: dict, notebooks_dir: Path) -> list:
    """The PDFs, page maps and zips into the new set's folder; the page tables."""
    step(f"writing the upload set {new_set}")
    new_set.mkdir(parents=True)
    tables = []
    for name, (pdf, _) in results.items():
        step(f"writing the upload set: copying {pdf} to {new_set / name}.pdf")
        shutil.copyfile(pdf, new_set / f"{name}.pdf")
    for a in ASSIGNMENTS:
        step(f"writing the upload set: {new_set / a.slug}.pages.json")
        pages = split_page_map(a, results[a.slug][1])
        (new_set / f"{a.slug}.pages.json").write_text(json.dumps(pages, indent=1) + "\n")
        tables.append(page_table(a, pages))
        make_zip(a, new_set, notebooks_dir)
    return tables


PIP_PACKAGES = "torch torchvision torchmetrics transformers tokenizers numpy matplotlib tqdm jupyter"


def zip_notebooks(a: Assignment) -> list:
    return list(a.answers.values()) + companions(a)


def zip_readme(a: Assignment, stems: list) -> str:
    lines = [f"# {a.title}", "", f"- `{a.slug}.pdf`: the written answers"
             + (" and the executed notebooks, rendered" if a.answers else "")]
    for stem in stems:
        what = ("the companion notebook (beyond the homework)" if stem.endswith("_beyond")
                else "the executed notebook")
        lines += [f"- `{stem}.ipynb`: {what} (outputs included); it needs no other file", "",
                  f"Run it: `pip install {PIP_PACKAGES}`, then",
                  f"`HW_PROFILE=quick jupyter nbconvert --to notebook --execute {stem}.ipynb`",
                  f"(the run is written to `{stem}.nbconvert.ipynb`), or upload it to Colab",
                  "(File > Upload notebook) and run all cells. HW_PROFILE=full is the real run",
                  "(the default when a GPU is present); quick takes minutes on a CPU.", ""]
    return "\n".join(lines) + "\n"


def make_zip(a: Assignment, out_dir: Path, executed_dir: Path) -> None:
    """<slug>.zip: the assignment's PDF, its executed notebooks (graded and
    companion) and a README on how to run them. Each notebook stands alone:
    its hidden first cell creates the helper module it imports."""
    step(f"writing {out_dir / (a.slug + '.zip')}")
    stems = zip_notebooks(a)
    with zipfile.ZipFile(out_dir / f"{a.slug}.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(out_dir / f"{a.slug}.pdf", f"{a.slug}/{a.slug}.pdf")
        for stem in stems:
            z.write(executed_dir / f"{stem}.ipynb", f"{a.slug}/{stem}.ipynb")
        z.writestr(f"{a.slug}/README.md", zip_readme(a, stems))


def pdf_page_count(path: Path) -> int:
    import pypdf
    return len(pypdf.PdfReader(path).pages)


# ------------------------------------------------------------------ main

def _kill_children() -> None:
    with CHILDREN_LOCK:
        procs = list(CHILDREN)
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _cleanup_attempts(build: Path) -> None:
    for folder in (build / "tex").glob(f".*.attempt-{os.getpid()}") if (build / "tex").is_dir() else []:
        shutil.rmtree(folder, ignore_errors=True)
    for folder in (build / ".sets").glob(f"*-{os.getpid()}") if (build / ".sets").is_dir() else []:
        if not ((build / UPLOAD_LINK).is_symlink() and (build / UPLOAD_LINK).resolve() == folder.resolve()):
            shutil.rmtree(folder, ignore_errors=True)


def run(args) -> None:
    if args.what == "notebook":
        notebook_pdf(args.source, args.target)
        return
    step(f"reading the cover fields ({args.student})")
    student = read_student(args.student.resolve())
    if args.what == "theory":
        build_theory(args.build, student, args.only.split(",") if args.only else None)
    else:
        tables = build_documents(args.build, args.notebooks, student)
        print("\n".join(tables))
        submission = args.build / "submission.pdf"
        print(f"submission: {submission} ({pdf_page_count(submission)} pages); upload set: {args.build / UPLOAD_LINK}/")
        _forget_interruptions(args.build)
    if student.unfilled:
        print(f"{draft_message(student)}: every page of these PDFs is marked DRAFT until then.")
    if args.what == "documents":
        print("\n".join(upload_set_report(args.notebooks)))


def _forget_interruptions(build: Path) -> None:
    """The marks of interruptions named by earlier makes (HW_STOP_MARK, tools/faults.py): this one built."""
    for mark in build.glob(".interrupted-*"):
        if str(mark) != os.environ.get("HW_STOP_MARK"):
            mark.unlink(missing_ok=True)


def upload_set_report(notebooks_dir: Path, repo: Path = REPO) -> list:
    """The last lines of the log when a graded notebook of the upload set shows a run that is not its
    committed one, or one below quick: each such notebook in a line of its own (a smoke run is a test of
    the code, not an answer), then the profile of every other graded notebook. Nothing otherwise."""
    rank, lines, others = run_record.PROFILE_RANK, [], []
    for nb in BUNDLE.graded:
        shown = run_record.record_of(_read_json(notebooks_dir / nb.file)) or {}
        committed_nb = _read_json(repo / "notebooks" / nb.file)
        committed = run_record.record_of(committed_nb)
        profile = shown.get("profile") or "unknown"
        below = rank.get(profile, -1) < rank["quick"]
        if committed is not None and shown == committed:
            if below:
                lines.append(f"upload set: {nb.stem} shows its committed {profile} run: a test, not an answer; "
                             f"run `make run NB={nb.stem} PROFILE=quick`, then `make publish NB={nb.stem}`")
            else:
                others.append(f"{nb.stem} ({profile}, committed)")
            continue
        why = run_record.differences(committed, run_record.current_inputs(committed_nb, os.environ.get("HW_SEED"),
                                                                          repo)) or "FRESH=1"
        article = "an" if profile[0] in "aeiou" else "a"
        made = f"{article} {profile} run made by make in {faults.shown(notebooks_dir.parent / 'runs' / nb.stem)}/ ({why})"
        was = f"not the committed {committed.get('profile', '?')} run" if committed else "the notebook records no committed run"
        if below:
            lines.append(f"upload set: {nb.stem} shows {made}, {was}: a test, not an answer; run "
                         f"`make pdf PROFILE=quick` or restore the notebook")
        else:
            lines.append(f"upload set: {nb.stem} shows {made}, {was}; `make publish NB={nb.stem}` commits it")
    if lines and others:
        lines.append(f"upload set: the other graded notebooks show their committed runs: {', '.join(others)}")
    return lines


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=REPO / "build")
    parser.add_argument("--student", type=Path, default=STUDENT_FILE,
                        help="the cover's student file (default theory/student.tex)")
    sub = parser.add_subparsers(dest="what", required=True)
    th = sub.add_parser("theory")
    th.add_argument("--only", help="comma-separated section stems, e.g. cs230 (a draft build)")
    nb = sub.add_parser("notebook")
    nb.add_argument("source", type=Path)
    nb.add_argument("target", type=Path)
    docs = sub.add_parser("documents")
    docs.add_argument("--notebooks", type=Path, required=True,
                      help="folder with the notebooks the PDFs show and their PDFs")
    args = parser.parse_args()
    args.build = args.build.resolve()
    faults.stop_signals()  # the first SIGINT or SIGTERM raises Stopped; the ones that follow are ignored
    code, messages, stopped = 0, [], False
    try:
        run(args)
    except Stopped as stop:
        _kill_children()
        code, messages, stopped = 128 + stop.signum, [faults.stop_text(stop.signum, STEP["now"])], True
    except Failure as failure:
        _kill_children()
        if failure.detail.strip():
            print(failure.detail.rstrip(), file=sys.stderr)
        code, messages = failure.code, [failure.step, *failure.others]
    except OSError as err:
        _kill_children()
        code, messages = 1, [f"{STEP['now']}: {faults.os_error_text(err, args.build)}"]
    except Exception as err:  # noqa: BLE001 - one line, not a traceback
        _kill_children()
        code, messages = 1, [f"{STEP['now']}: {type(err).__name__}: {err}"]
    if code and not stopped and faults.STOPPED:  # a signal that surfaced as a step's error (e.g. a worker's lock
        signum = faults.STOPPED["signal"]         # released under it) is still the interrupt, named as such
        code, messages, stopped = 128 + signum, [faults.stop_text(signum, STEP["now"])], True
    if code:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _cleanup_attempts(args.build)
        if stopped:
            faults.report_stop(messages[0])  # once for the whole make, whichever of its jobs it hit
        else:
            for message in messages:
                print(f"FAILED: {message}", file=sys.stderr)
        raise SystemExit(code)


if __name__ == "__main__":
    main()
