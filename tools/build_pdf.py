"""Build the PDFs and zips of the bundle.

    python tools/build_pdf.py theory                 -> build/theory.pdf
    python tools/build_pdf.py notebook build/notebooks/quick/X.ipynb build/notebooks/quick/X.pdf
    python tools/build_pdf.py documents --notebooks build/notebooks/quick
        -> build/submission.pdf, build/<assignment>.pdf, build/<assignment>.zip

Every PDF is one LaTeX document (xelatex via latexmk): the cover page fed by
theory/student.tex, a table of contents, the theory sections, and the executed
notebooks (each converted by nbconvert with DejaVu fonts, then included page by
page with pdfpages so that the table of contents and the PDF bookmarks list
them). Outputs are written to a temp file and renamed, so an interrupted build
never leaves a half-written PDF.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atomic import atomic_output  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
THEORY = REPO / "theory"
TEMPLATE_DIR = Path(__file__).resolve().parent / "nbconvert_template"

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
    slug: str  # build/<slug>.pdf and build/<slug>.zip
    title: str  # the course's name for it, on the cover and in the bookmarks
    sections: list  # theory section stems
    notebooks: list = field(default_factory=list)
    preface: str = ""  # LaTeX shown before the sections in this assignment's own PDF
    in_submission: str = ""  # LaTeX used instead of the sections in the merged PDF


ASSIGNMENTS = [
    Assignment("nyu-dl-fall2023", "NYU Deep Learning, Fall 2023 — Homework",
               [SECTIONS["nyu"]], ["gan_fashion_mnist"],
               preface="Problem 4 (GAN) is answered by the notebook that follows the written answers; "
                       "its part (c) discussion and numbers are in the notebook."),
    Assignment("nyu-dl-fall2022-hw3", "NYU Deep Learning, Fall 2022 — Homework 3",
               [SECTIONS["nyu"]], ["transformer_sentiment"],
               preface="Problems 1--3 are the same as in the Fall 2023 homework; Problem 4 "
                       "(sentiment analysis with a transformer) is the notebook that follows.",
               in_submission="Problems 1--3 of this homework are the same as those of the Fall 2023 "
                             "homework: their answers are in \\cref{sec:nyu}. Problem 4 is the notebook that follows."),
    Assignment("uark-csce5563-hw2", "UArk CSCE 5563 Intro to Deep Learning — Homework 2",
               [SECTIONS["uark"]], ["binary_addition_rnn"],
               preface="Question 4 (binary addition, Parts 1 and 2) is the notebook that follows the "
                       "written answers."),
    Assignment("stanford-cs230-winter2020-midterm", "Stanford CS230, Winter 2020 — Midterm",
               [SECTIONS["cs230"]]),
]


def atomic_copy(src: Path, dst: Path) -> None:
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)


# ----------------------------------------------------------- notebook -> PDF

BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)\)")
WIDGET = "application/vnd.jupyter.widget-view+json"


def prepare_notebook(nb) -> None:
    """What a reader of the PDF needs, not the live notebook: the Colab badge as
    a link (a remote SVG cannot be embedded), no widget outputs, a title."""
    title = None
    for cell in nb.cells:
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

    nb = nbformat.read(source, as_version=4)
    prepare_notebook(nb)
    exporter = PDFExporter(template_file=str(TEMPLATE_DIR / "dejavu.tex.j2"))
    exporter.latex_count = 3
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

def _cover(title: str) -> str:
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
{{\small Built with \texttt{{make pdf}} on \today.}}
\end{{titlepage}}
\tableofcontents
\clearpage
"""


def _include_notebook(stem: str, pdf_dir: Path) -> str:
    pdf = (pdf_dir / f"{stem}.pdf").resolve()
    if not pdf.exists():
        raise SystemExit(f"missing notebook PDF {pdf}: run `make notebooks` first")
    title = NOTEBOOKS[stem]
    return (rf"\clearpage\phantomsection\addcontentsline{{toc}}{{section}}{{{title}}}" "\n"
            rf"\includepdf[pages=-,pagecommand={{\thispagestyle{{plain}}}}]{{{pdf.as_posix()}}}" "\n")


def _bibliography() -> str:
    bibs = sorted(p.stem for p in THEORY.glob("*.bib"))
    if not bibs:
        return ""
    return "\\clearpage\n\\bibliographystyle{plainnat}\n\\bibliography{" + ",".join(bibs) + "}\n"


def driver(title: str, body: str) -> str:
    return ("\\documentclass[11pt]{article}\n\\input{preamble}\n\\input{student}\n"
            f"\\title{{{title}}}\n\\begin{{document}}\n{_cover(title)}\n{body}\n{_bibliography()}\\end{{document}}\n")


def sections_tex(stems) -> str:
    return "".join(f"\\input{{sections/{s}}}\n\\clearpage\n" for s in stems)


def compile_tex(name: str, tex: str, out: Path, workdir: Path) -> None:
    """latexmk -xelatex in workdir (TEXINPUTS/BIBINPUTS find theory/)."""
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


def build_theory(build: Path, only: list | None = None) -> None:
    """All written answers in one PDF (each shared section once)."""
    stems = list(dict.fromkeys(s for a in ASSIGNMENTS for s in a.sections))
    if only:
        unknown = set(only) - set(stems)
        if unknown:
            raise SystemExit(f"unknown section(s) {sorted(unknown)}; known: {stems}")
        stems = [s for s in stems if s in only]
    name = "theory" if not only else "theory-" + "-".join(stems)
    compile_tex(name, driver("Written answers", sections_tex(stems)), build / f"{name}.pdf",
                build / "tex" / name)


def build_documents(build: Path, notebooks_dir: Path) -> None:
    """notebooks_dir holds the executed notebooks and their PDFs."""
    parts = ""
    for a in ASSIGNMENTS:
        parts += f"\\part{{{a.title}}}\n"
        parts += (a.in_submission + "\n\n") if a.in_submission else sections_tex(a.sections)
        notebooks = "".join(_include_notebook(stem, notebooks_dir) for stem in a.notebooks)
        parts += notebooks
        own = (a.preface + "\n\n" if a.preface else "") + sections_tex(a.sections) + notebooks
        compile_tex(a.slug, driver(a.title, own), build / f"{a.slug}.pdf", build / "tex" / a.slug)
        make_zip(a, build, notebooks_dir)
    compile_tex("submission", driver("Deep-learning homework: written answers and notebooks", parts),
                build / "submission.pdf", build / "tex" / "submission")


def make_zip(a: Assignment, build: Path, executed_dir: Path) -> None:
    """<slug>.zip: the assignment's PDF, its executed notebook, the shared
    helper it imports, and a README on how to run it (UArk asks for a source
    folder with a readme; NYU asks for the .ipynb as well)."""
    readme = [f"# {a.title}", "", f"- `{a.slug}.pdf`: the written answers"
              + (" and the executed notebook, rendered" if a.notebooks else "")]
    for stem in a.notebooks:
        readme += [f"- `{stem}.ipynb`: the executed notebook (outputs included)",
                   "- `hwcommon.py`: the small helper it imports (profile, device, data)", "",
                   "Run it: `pip install torch torchvision torchmetrics transformers tokenizers matplotlib "
                   "tqdm jupyter`, then `HW_PROFILE=quick jupyter nbconvert --to notebook --execute "
                   f"{stem}.ipynb` (or open it in Colab from the badge in its first cell).",
                   "HW_PROFILE=full is the real run (default when a GPU is present).", ""]
    with atomic_output(build / f"{a.slug}.zip") as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(build / f"{a.slug}.pdf", f"{a.slug}/{a.slug}.pdf")
            for stem in a.notebooks:
                z.write(executed_dir / f"{stem}.ipynb", f"{a.slug}/{stem}.ipynb")
            if a.notebooks:
                z.write(REPO / "notebooks" / "hwcommon.py", f"{a.slug}/hwcommon.py")
            z.writestr(f"{a.slug}/README.md", "\n".join(readme) + "\n")
    print(f"zip: {build / f'{a.slug}.zip'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    th = sub.add_parser("theory")
    th.add_argument("--only", help="comma-separated section stems, e.g. cs230 (a draft build)")
    nb = sub.add_parser("notebook")
    nb.add_argument("source", type=Path)
    nb.add_argument("target", type=Path)
    docs = sub.add_parser("documents")
    docs.add_argument("--notebooks", type=Path, required=True,
                      help="folder with the executed notebooks and their PDFs")
    parser.add_argument("--build", type=Path, default=REPO / "build")
    args = parser.parse_args()
    if args.what == "theory":
        build_theory(args.build, args.only.split(",") if args.only else None)
    elif args.what == "notebook":
        notebook_pdf(args.source, args.target)
    else:
        build_documents(args.build, args.notebooks)


if __name__ == "__main__":
    main()
