"""Build the PDFs and zips of the bundle.

    python tools/build_pdf.py theory                 -> build/theory.pdf
    python tools/build_pdf.py notebook build/notebooks/quick/X.ipynb build/notebooks/quick/X.pdf
    python tools/build_pdf.py documents --notebooks build/notebooks/quick --profile quick
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
the build writes build/<assignment>.pages.json ({"Question 1": [3, 4], ...})
and prints the question -> pages table at the end of its log.

Outputs are written to a temp file and renamed, so an interrupted build never
leaves a half-written PDF.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atomic import atomic_output  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
THEORY = REPO / "theory"
TEMPLATE_DIR = Path(__file__).resolve().parent / "nbconvert_template"
STUDENT_FILE = THEORY / "student.tex"

# The notebooks, by file stem, with the title used in tables of contents.
NOTEBOOKS = {
    "gan_fashion_mnist": "GAN on FashionMNIST vs the MNIST conditional GAN (notebook)",
    "transformer_sentiment": "Transformer sentiment analysis (notebook)",
    "binary_addition_rnn": "Binary addition with RNNs (notebook)",
}

# The theory sections, by file stem under theory/sections/.
SECTIONS = {"nyu": "nyu_p1_p3", "uark": "uark_q1_q3", "cs230": "cs230"}


@dataclass
class Assignment:
    slug: str  # build/<slug>.pdf, .zip and .pages.json
    title: str  # the course's name for it, on the cover and in the bookmarks
    course: str  # short name in the header of every page of its questions
    sections: list  # theory section stems
    questions: list  # its top-level questions, in order, as the homework names them
    notebooks: dict = field(default_factory=dict)  # question -> stem of the notebook that answers it
    preface: str = ""  # LaTeX shown before the sections in this assignment's own PDF
    in_submission: str = ""  # LaTeX used instead of the sections in the merged PDF


ASSIGNMENTS = [
    Assignment("nyu-dl-fall2023", "NYU Deep Learning, Fall 2023 — Homework", "NYU Deep Learning Fall 2023",
               [SECTIONS["nyu"]], ["Problem 1", "Problem 2", "Problem 3", "Problem 4"],
               {"Problem 4": "gan_fashion_mnist"},
               preface="Problem 4 (training GANs) is answered by the notebook that follows Problem 3; "
                       "its part (c) discussion and numbers are in the notebook."),
    Assignment("nyu-dl-fall2022-hw3", "NYU Deep Learning, Fall 2022 — Homework 3", "NYU Deep Learning Fall 2022 HW3",
               [SECTIONS["nyu"]], ["Problem 1", "Problem 2", "Problem 3", "Problem 4"],
               {"Problem 4": "transformer_sentiment"},
               preface="Problems 1--3 are the same as in the Fall 2023 homework; Problem 4 "
                       "(sentiment analysis with a transformer) is the notebook that follows Problem 3.",
               in_submission="Problems 1--3 of this homework are word for word those of the Fall 2023 "
                             "homework: their answers are in \\cref{sec:nyu}. Problem 4 is the notebook that follows."),
    Assignment("uark-csce5563-hw2", "UArk CSCE 5563 Intro to Deep Learning — Homework 2", "UArk CSCE 5563 HW2",
               [SECTIONS["uark"]], ["Question 1", "Question 2", "Question 3", "Question 4"],
               {"Question 4": "binary_addition_rnn"},
               preface="Question 4 (binary addition, Parts 1 and 2) is the notebook that follows Question 3."),
    Assignment("stanford-cs230-winter2020-midterm", "Stanford CS230, Winter 2020 — Midterm",
               "Stanford CS230 Winter 2020 Midterm", [SECTIONS["cs230"]],
               [f"Question {n}" for n in range(1, 8)]),
]


def course_of_section(stem: str) -> str:
    """The header course of a section in a PDF that holds several assignments:
    a section shared by two assignments (NYU Problems 1-3) names both."""
    courses = [a.course for a in ASSIGNMENTS if stem in a.sections]
    if len(courses) == 1:
        return courses[0]
    return "NYU Deep Learning Fall 2023 and Fall 2022 HW3" if stem == SECTIONS["nyu"] else " / ".join(courses)


def atomic_copy(src: Path, dst: Path) -> None:
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)


def latex_escape(text: str) -> str:
    """Plain text -> LaTeX: escape the specials a name, an e-mail or a command
    line may hold; leave what is already escaped (\\&) and commands alone."""
    text = re.sub(r"(?<!\\)([_&%#$])", r"\\\1", text)
    return re.sub(r"(?<!\\)\^", r"\\^{}", text)


# ------------------------------------------------------------ student file

# Macro -> (what it is, text that is still there while the student has not filled it in).
STUDENT_FIELDS = {
    "StudentName": ("name", "Your Name"),
    "StudentID": ("ID", "N00000000"),
    "StudentEmail": ("e-mail", "you@example.edu"),
    "Collaborators": ("collaborators", "List them"),
    "ToolsUsed": ("tools used", "state here which ones"),
}


@dataclass
class Student:
    values: dict  # macro -> its text as written (plain text, whitespace collapsed)
    definitions: str  # LaTeX \newcommand lines, values escaped
    unfilled: list  # macros that still hold their placeholder
    path: Path


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
    raise SystemExit(f"{path}: \\{name}: unbalanced braces in its value")


def read_student(path: Path) -> Student:
    """Read the cover fields as plain text (comment lines skipped), escape
    them, and note which still hold their placeholder."""
    if not path.exists():
        raise SystemExit(f"{path}: no such student file")
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("%"))
    values = {}
    for match in re.finditer(r"\\(?:re)?newcommand\s*\{\\(\w+)\}\s*(?=\{)", text):
        name = match.group(1)
        values[name] = " ".join(_braced_value(text, match.end(), name, path).split())
    definitions, unfilled = [], []
    for name, (_, placeholder) in STUDENT_FIELDS.items():
        if name not in values:
            raise SystemExit(f"{path}: \\{name} is missing (write \\newcommand{{\\{name}}}{{...}})")
        value = values[name]
        if not value or placeholder in value:
            unfilled.append(name)
        definitions.append(f"\\newcommand{{\\{name}}}{{{latex_escape(value)}}}")
    return Student({name: values[name] for name in STUDENT_FIELDS}, "\n".join(definitions), unfilled, path)


def draft_message(student: Student) -> str:
    where = student.path.relative_to(REPO) if student.path.is_relative_to(REPO) else student.path
    fields = ", ".join(STUDENT_FIELDS[name][0] for name in student.unfilled)
    return f"DRAFT: fill in {where} ({fields}), then rebuild"


# ----------------------------------------------------------- notebook -> PDF

BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)\)")
WIDGET = "application/vnd.jupyter.widget-view+json"
REMOVE_TAG = "remove_cell"  # cells the notebook needs to run but a grader need not read


def prepare_notebook(nb) -> None:
    """What a reader of the PDF needs, not the live notebook: the Colab badge as
    a link (a remote SVG cannot be embedded), no widget outputs, a title."""
    title = None
    for cell in nb.cells:
        if REMOVE_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "markdown":
            cell.source = BADGE.sub(r"[Open in Colab](\1)", cell.source)
            if title is None:
                match = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
                title = match.group(1).strip() if match else None
        elif cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if WIDGET not in o.get("data", {})]
    nb.metadata["title"] = title or "Notebook"


def notebook_pdf(source: Path, target: Path) -> None:
    import nbformat
    from nbconvert import PDFExporter
    from traitlets.config import Config

    nb = nbformat.read(source, as_version=4)
    prepare_notebook(nb)
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {REMOVE_TAG}
    exporter = PDFExporter(config=config, template_file=str(TEMPLATE_DIR / "dejavu.tex.j2"))
    exporter.latex_count = 2  # the second pass adds the bookmarks; a third changed nothing (same pages, same outline)
    try:
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": source.stem, "path": str(source.parent)}})
    except Exception as err:  # nbconvert's LatexFailed carries the whole log
        log = str(err)
        print(f"FAILED: converting {source} to PDF\n{log[-3000:]}", file=sys.stderr)
        raise SystemExit(1) from None
    with atomic_output(target) as tmp:
        Path(tmp).write_bytes(body)
    print(f"notebook PDF: {target}")


# ------------------------------------------------------------ LaTeX drivers

@dataclass
class BuildInfo:
    command: str  # what the cover says built it, e.g. "make pdf"
    detail: str  # e.g. "notebooks executed in the quick profile"
    student: Student


def _cover(title: str, info: BuildInfo, has_notebooks: bool) -> str:
    detail = info.detail if has_notebooks else "written answers only, no notebooks"
    return rf"""
\begin{{titlepage}}
\centering
\vspace*{{3cm}}
{{\LARGE\bfseries {title}\par}}
\vspace{{1.5cm}}
{{\large \StudentName\par}}
\vspace{{0.3cm}}
\StudentID\quad\texttt{{\StudentEmail}}\par
\vspace{{1.5cm}}
\begin{{minipage}}{{0.8\textwidth}}\small
\textbf{{Collaborators:}} \Collaborators\par\medskip
\textbf{{Tools used:}} \ToolsUsed
\end{{minipage}}
\vfill
{{\small\raggedright Built by \texttt{{{latex_escape(info.command)}}} on \today; {latex_escape(detail)}.\par}}
\end{{titlepage}}
\setcounter{{page}}{{2}}% page numbers are PDF page indices, the numbers Gradescope shows
\tableofcontents
\bigskip
"""


def _notebook_question(course: str, question: str, stem: str, pdf_dir: Path) -> str:
    """A notebook that answers `question`: new page, the question's header on
    every page, a table-of-contents entry at its first page."""
    pdf = (pdf_dir / f"{stem}.pdf").resolve()
    if not pdf.exists():
        raise SystemExit(f"missing notebook PDF {pdf}: run `make notebooks` first")
    toc = f"{question}: {NOTEBOOKS[stem]}"
    return (f"\\hwcourse{{{course}}}\\hwstartquestion{{{question}}}\n"
            f"\\includepdf[pages=-,pagecommand={{\\thispagestyle{{hw}}}},"
            f"addtotoc={{1,subsection,2,{{{toc}}},nb:{stem}}}]{{{pdf.as_posix()}}}\n")


def _bibliography() -> str:
    bibs = sorted(p.stem for p in THEORY.glob("*.bib"))
    if not bibs:
        return ""
    return "\\bibliographystyle{plainnat}\n\\bibliography{" + ",".join(bibs) + "}\n"


def driver(title: str, body: str, info: BuildInfo) -> str:
    draft = f"\\hwdraft{{{latex_escape(draft_message(info.student))}}}\n" if info.student.unfilled else ""
    cover = _cover(title, info, has_notebooks="\\includepdf" in body)
    return ("\\documentclass[11pt]{article}\n\\input{preamble}\n" + info.student.definitions + "\n" + draft
            + f"\\title{{{title}}}\n\\begin{{document}}\n{cover}\n{body}\n"
            + "\\hwendquestions\n" + _bibliography() + "\\end{document}\n")


def sections_tex(stems, course=None) -> str:
    """Each section with the course its page headers name; the questions end
    with a page break so that nothing after them shares their last page."""
    return "".join(f"\\hwcourse{{{course or course_of_section(s)}}}\n\\input{{sections/{s}}}\n\\hwendquestions\n"
                   for s in stems)


def compile_tex(name: str, tex: str, out: Path, workdir: Path) -> dict:
    """latexmk -xelatex in workdir (TEXINPUTS/BIBINPUTS find theory/); returns
    the question -> PDF pages map of the compiled document."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.tex").write_text(tex)
    env = dict(os.environ)
    sep = os.pathsep
    env["TEXINPUTS"] = f".{sep}{THEORY}{sep}{REPO}{sep}"
    env["BIBINPUTS"] = f".{sep}{THEORY}{sep}"
    cmd = ["latexmk", "-xelatex", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
           f"{name}.tex"]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    log_path = workdir / f"{name}.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    if proc.returncode != 0:
        errors = [line for line in log.splitlines() if line.startswith(("!", "./", "/")) and "error" in line.lower()]
        print(f"FAILED: LaTeX build of {name}\n" + "\n".join(errors[-20:]) + "\n" + proc.stdout[-3000:],
              file=sys.stderr)
        raise SystemExit(1)
    problems = [line for line in log.splitlines()
                if re.search(r"(Reference|Citation) .* undefined|There were undefined", line)]
    if problems:
        print(f"FAILED: {name} has undefined references:\n" + "\n".join(problems[:20]), file=sys.stderr)
        raise SystemExit(1)
    atomic_copy(workdir / f"{name}.pdf", out)
    print(f"PDF: {out}")
    return read_page_map(workdir / f"{name}.qpages")


def read_page_map(path: Path) -> dict:
    """<job>.qpages holds one "page|question" line per page shipped under a
    question header (written by the last LaTeX run)."""
    pages: dict = {}
    for line in path.read_text().splitlines():
        page, _, question = line.partition("|")
        if question and int(page) not in pages.setdefault(question, []):
            pages[question].append(int(page))
    return pages


def check_page_map(a: Assignment, pages: dict) -> None:
    if list(pages) != a.questions:
        raise SystemExit(f"FAILED: {a.slug}.pdf: questions by page {list(pages)}, expected {a.questions}")


def page_ranges(pages: list) -> str:
    """[3, 4, 5, 8] -> '3-5, 8'."""
    runs, start = [], pages[0]
    for prev, page in zip(pages, pages[1:] + [None]):
        if page != prev + 1:
            runs.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = page
    return ", ".join(runs)


def page_table(a: Assignment, pages: dict) -> str:
    lines = [f"{a.slug}.pdf (pages to tag in Gradescope; {a.slug}.pages.json):"]
    lines += [f"  {question:<12} {page_ranges(p)}" for question, p in pages.items()]
    return "\n".join(lines)


def build_theory(build: Path, info: BuildInfo, only: list | None = None) -> None:
    """All written answers in one PDF (each shared section once)."""
    stems = list(dict.fromkeys(s for a in ASSIGNMENTS for s in a.sections))
    if only:
        unknown = set(only) - set(stems)
        if unknown:
            raise SystemExit(f"unknown section(s) {sorted(unknown)}; known: {stems}")
        stems = [s for s in stems if s in only]
    name = "theory" if not only else "theory-" + "-".join(stems)
    compile_tex(name, driver("Written answers", sections_tex(stems), info), build / f"{name}.pdf",
                build / "tex" / name)


def build_documents(build: Path, notebooks_dir: Path, info: BuildInfo) -> list:
    """notebooks_dir holds the executed notebooks and their PDFs. The merged
    PDF and the one of each assignment are independent LaTeX runs, compiled
    side by side (one per CPU core, the longest first). Returns the
    question -> pages table of each assignment PDF, for the end of the log."""
    documents = {"submission": ""}  # name -> LaTeX driver
    parts = ""
    for a in ASSIGNMENTS:
        notebooks = "".join(_notebook_question(a.course, q, stem, notebooks_dir) for q, stem in a.notebooks.items())
        preface = a.preface + "\n\n" if a.preface else ""
        merged = a.in_submission + "\n\n" if a.in_submission else preface + sections_tex(a.sections)
        parts += f"\\clearpage\n\\part{{{a.title}}}\n" + merged + notebooks + "\\hwendquestions\n"
        documents[a.slug] = driver(a.title, preface + sections_tex(a.sections, a.course) + notebooks, info)
    documents["submission"] = driver("Deep-learning homework: written answers and notebooks", parts, info)

    def compile_document(name: str) -> dict:
        return compile_tex(name, documents[name], build / f"{name}.pdf", build / "tex" / name)

    with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        page_maps = dict(zip(documents, pool.map(compile_document, documents)))
    tables = []
    for a in ASSIGNMENTS:
        pages = page_maps[a.slug]
        check_page_map(a, pages)
        with atomic_output(build / f"{a.slug}.pages.json") as tmp:
            Path(tmp).write_text(json.dumps(pages, indent=1) + "\n")
        tables.append(page_table(a, pages))
        make_zip(a, build, notebooks_dir)
    return tables


PIP_PACKAGES = "torch torchvision torchmetrics transformers tokenizers numpy matplotlib tqdm jupyter"


def zip_readme(a: Assignment) -> str:
    lines = [f"# {a.title}", "", f"- `{a.slug}.pdf`: the written answers"
             + (" and the executed notebook, rendered" if a.notebooks else "")]
    for stem in a.notebooks.values():
        lines += [f"- `{stem}.ipynb`: the executed notebook (outputs included); it needs no other file", "",
                  f"Run it: `pip install {PIP_PACKAGES}`, then",
                  f"`HW_PROFILE=quick jupyter nbconvert --to notebook --execute {stem}.ipynb`",
                  f"(the run is written to `{stem}.nbconvert.ipynb`), or upload it to Colab",
                  "(File > Upload notebook) and run all cells. HW_PROFILE=full is the real run",
                  "(the default when a GPU is present); quick takes minutes on a CPU.", ""]
    return "\n".join(lines) + "\n"


def make_zip(a: Assignment, build: Path, executed_dir: Path) -> None:
    """<slug>.zip: the assignment's PDF, its executed notebook and a README on
    how to run it (UArk asks for a source folder with a readme; NYU asks for
    the .ipynb as well). Each notebook stands alone: its hidden first cell
    creates the helper module it imports."""
    with atomic_output(build / f"{a.slug}.zip") as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(build / f"{a.slug}.pdf", f"{a.slug}/{a.slug}.pdf")
            for stem in a.notebooks.values():
                z.write(executed_dir / f"{stem}.ipynb", f"{a.slug}/{stem}.ipynb")
            z.writestr(f"{a.slug}/README.md", zip_readme(a))
    print(f"zip: {build / f'{a.slug}.zip'}")


def pdf_page_count(path: Path) -> int:
    import pypdf
    return len(pypdf.PdfReader(path).pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=REPO / "build")
    parser.add_argument("--student", type=Path, default=STUDENT_FILE,
                        help="the cover's student file (default theory/student.tex)")
    parser.add_argument("--command", help="the command the cover names as the builder (the Makefile passes "
                                          "'make pdf' or 'make theory'; default: this script's command line)")
    sub = parser.add_subparsers(dest="what", required=True)
    th = sub.add_parser("theory")
    th.add_argument("--only", help="comma-separated section stems, e.g. cs230 (a draft build)")
    nb = sub.add_parser("notebook")
    nb.add_argument("source", type=Path)
    nb.add_argument("target", type=Path)
    docs = sub.add_parser("documents")
    docs.add_argument("--notebooks", type=Path, required=True,
                      help="folder with the executed notebooks and their PDFs")
    docs.add_argument("--profile", help="the profile the notebooks were executed in (for the cover)")
    args = parser.parse_args()
    if args.what == "notebook":
        notebook_pdf(args.source, args.target)
        return
    student = read_student(args.student.resolve())
    command = args.command or "python tools/build_pdf.py " + shlex.join(sys.argv[1:])
    if args.what == "theory":
        build_theory(args.build, BuildInfo(command, "written answers only, no notebooks", student),
                     args.only.split(",") if args.only else None)
    else:
        detail = (f"notebooks executed in the {args.profile} profile" if args.profile
                  else f"notebooks from {args.notebooks}")
        tables = build_documents(args.build, args.notebooks, BuildInfo(command, detail, student))
        print("\n".join(tables))
        submission = args.build / "submission.pdf"
        print(f"submission: {submission} ({pdf_page_count(submission)} pages"
              + (f", {args.profile} profile)" if args.profile else ")"))
    if student.unfilled:
        print(f"{draft_message(student)}: every page of these PDFs is marked DRAFT until then.")


if __name__ == "__main__":
    main()
