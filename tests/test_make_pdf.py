"""`make pdf` as a student meets it, on a small copy of the repository: the
real Makefile, tools and preamble, with one-cell stand-ins for the notebooks
and one-paragraph theory sections, so every build takes seconds.

- the committed run is shown as it is while its inputs are unchanged; after
  one notebook's code changes, only that one runs (under build/, never the
  committed figures/), and `make -q pdf` says so right;
- an interrupted LaTeX step ends in one FAILED line and the next build works;
- two `make pdf` at once: the second waits, saying so in one line;
- a full disk (a small tmpfs) during a notebook run and during LaTeX;
- `make publish` refuses to replace a higher profile, and FORCE=1 does;
- the cover renders any script and every LaTeX special, and stops with one
  line naming the student file and the field when a character cannot be set.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from filelock import FileLock

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import manifest  # noqa: E402
import publish  # noqa: E402
import run_record  # noqa: E402

# The stand-ins: every graded notebook of bundle.toml, and one companion (its figures/ input makes
# the "an input file changed" case).
COMPANION = "gan_fashion_mnist_beyond"
TOPICS = {nb.stem: nb.topic for nb in manifest.load().notebooks if nb.graded or nb.stem == COMPANION}


def mini_manifest(stems) -> str:
    """bundle.toml with only the [[notebook]] entries of `stems` (the stand-ins)."""
    head, *entries = (REPO / "bundle.toml").read_text().split("\n[[notebook]]\n")
    kept = [e for e in entries if re.search(r'^stem = "(\w+)"', e, flags=re.M).group(1) in stems]
    return "\n[[notebook]]\n".join([head, *kept])

QUESTIONS = {"nyu_p1_p3": ("\\HWCourse: Problems 1--3", "sec:nyu", ["Problem 1", "Problem 2", "Problem 3"]),
             "uark_q1_q3": ("UArk: Questions 1--3", "sec:uark", ["Question 1", "Question 2", "Question 3"]),
             "cs230": ("CS230", "sec:cs230", [f"Question {n}" for n in range(1, 8)])}


def fake_notebook(stem: str, value: int, topic: str | None = None) -> nbformat.NotebookNode:
    topic = topic or TOPICS[stem]
    nb = nbformat.v4.new_notebook()
    reads = ["figures/gan_fashion_mnist_beyond/seeds.json"] if stem.endswith("_beyond") else []
    nb.metadata["hw"] = {"reads": reads}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    code = (
        "import json, os, pathlib\n"
        f"VALUE = {value}\n"
        "root = pathlib.Path(os.environ['HW_ROOT'])\n"
        f"out = root / 'figures' / '{topic}'\n"
        "out.mkdir(parents=True, exist_ok=True)\n"
        "fill = int(os.environ.get('FAKE_FILL_MB', '0'))\n"
        "if fill:\n"
        "    (out / 'big.bin').write_bytes(b'x' * fill * 2**20)\n"
        "(out / 'metrics.json').write_text(json.dumps({'profile': os.environ['HW_PROFILE'], 'device': 'cpu',\n"
        "                                              'threads': 1, 'value': VALUE}))\n"
        "print('value', VALUE, 'marker-' + pathlib.Path.cwd().name)\n")
    if reads:
        code += "print('seeds', (root / 'figures/gan_fashion_mnist_beyond/seeds.json').read_text())\n"
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Stand-in for {stem.replace('_', ' ')}\n\nOne cell."),
                nbformat.v4.new_code_cell(code)]
    return nb


def make_mini_repo(root: Path) -> Path:
    """A repository with the real Makefile, tools and preamble; stand-ins elsewhere."""
    root.mkdir(parents=True)
    shutil.copy2(REPO / "Makefile", root / "Makefile")
    shutil.copytree(REPO / "tools", root / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("requirements.txt", "requirements-data.txt"):
        shutil.copy2(REPO / name, root / name)
    for name in ("requirements.txt", "requirements-data.txt", "tools/setup_venv.py"):  # the set-up's inputs
        os.utime(root / name, (0, 0))  # older than the shared venv's set-up stamp: no pip run
    (root / ".venv").symlink_to(REPO / ".venv")
    theory = root / "theory" / "sections"
    theory.mkdir(parents=True)
    shutil.copy2(REPO / "theory" / "preamble.tex", root / "theory" / "preamble.tex")
    shutil.copy2(REPO / "theory" / "student.tex", root / "theory" / "student.tex")
    shutil.copy2(REPO / "theory" / "cover.tex", root / "theory" / "cover.tex")
    (root / "bundle.toml").write_text(mini_manifest(TOPICS))
    for stem, (title, label, questions) in QUESTIONS.items():
        body = f"\\section{{{title}}}\\label{{{label}}}\nIntroduction.\n"
        for i, q in enumerate(questions):
            body += (f"\\hwquestion{{{q}}}{{stand-in}}{{{label}-{i}}}\nThe answer to {q}.\n"
                     f"\\checked{{tests/test_stand_in.py::test_{i}}}{{a check of {q}}}\n")
        (theory / f"{stem}.tex").write_text(body)
    (root / "notebooks").mkdir()
    shutil.copy2(REPO / "notebooks" / "hwcommon.py", root / "notebooks")  # the settings' rules (tools/settings.py)
    for stem in TOPICS:
        nbformat.write(fake_notebook(stem, 1), root / "notebooks" / f"{stem}.ipynb")
    (root / "figures" / "gan_fashion_mnist_beyond").mkdir(parents=True)
    (root / "figures" / "gan_fashion_mnist_beyond" / "seeds.json").write_text('{"seeds": [0, 1, 2]}\n')
    return root


def make(repo: Path, *args, timeout=600, check=True, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["make", "--no-print-directory", *args, "PROFILE=smoke", "SYNC_CHECK=true"], cwd=repo,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HW_THREADS": "1", "HW_OFFLINE": "1", **(env or {})})
    if check:
        assert proc.returncode == 0, f"make {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def tree_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def commit_runs(repo: Path) -> None:
    """Every stand-in committed as if `make run` + `make publish` had made it:
    outputs, a run record that matches its inputs, and its figures/<topic>/."""
    for stem, topic in TOPICS.items():
        path = repo / "notebooks" / f"{stem}.ipynb"
        nb = nbformat.read(path, as_version=4)
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="value 1 marker-notebooks\n")]
        record = run_record.current_inputs(json.loads(nbformat.writes(nb)), "0", repo)
        nb.metadata["hw_run"] = {**record, "profile": "smoke", "device": "cpu", "threads": 1,
                                 "date": "2026-01-02 03:04 UTC", "commit": "abc1234", "topics": [topic]}
        nbformat.write(nb, path)
        (repo / "figures" / topic).mkdir(parents=True, exist_ok=True)
        (repo / "figures" / topic / "metrics.json").write_text(json.dumps({"profile": "smoke", "value": 1}))


def build_mini(repo: Path) -> Path:
    shutil.rmtree(repo, ignore_errors=True)  # a build that a failed session left half made
    make_mini_repo(repo)
    commit_runs(repo)
    proc = make(repo, "pdf")
    (repo / "first-build.log").write_text(proc.stdout + proc.stderr)
    return repo


@pytest.fixture(scope="session")
def mini(tmp_path_factory, worker_id) -> Path:
    """A stand-in repository with every notebook committed from a recorded run
    and one successful `make pdf` (nothing to execute), built once per test
    session: under pytest-xdist the workers share it through a lock in the
    session's temp folder, as tests/test_pdf.py shares its smoke build. Tests
    that change it work on a copy (copy_of)."""
    if worker_id == "master":
        return build_mini(tmp_path_factory.mktemp("mini") / "repo")
    shared = tmp_path_factory.getbasetemp().parent
    repo = shared / "mini" / "repo"
    with FileLock(str(shared / "mini.lock")):
        if not (repo / "first-build.log").exists():
            build_mini(repo)
    return repo


def edit_code(repo: Path, stem: str, value: int) -> None:
    """Change the code of a committed stand-in (its outputs and run record stay)."""
    path = repo / "notebooks" / f"{stem}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("VALUE = 1", f"VALUE = {value}")
    nbformat.write(nb, path)


def copy_of(mini: Path, tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(mini, target, symlinks=True)
    return target


def upload_set(repo: Path) -> dict:
    build = repo / "build"
    return {name: hashlib.sha256((build / name).read_bytes()).hexdigest()
            for name in ["submission.pdf", "nyu-dl-fall2023.pdf", "nyu-dl-fall2023.zip",
                         "stanford-cs230-winter2020-midterm.pdf"]}


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def squash_spaces(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ------------------------------------------------------------- best run first

def test_committed_runs_are_shown_as_they_are(mini):
    log = (mini / "first-build.log").read_text()
    assert "all 4 shown from their committed runs" in log
    assert "executing" not in log
    text = pdf_text(mini / "build" / "nyu-dl-fall2023.pdf")
    # each notebook's first page says which run it shows: profile, device and date (the commit stays in
    # its metadata), and that a smoke run is a test, not an answer
    assert "Run shown: smoke profile, cpu (1 thread), 2026-01-02 03:04 UTC." in squash_spaces(text)
    assert "commit abc1234" not in text and "SMOKE RUN — a test of the code" in squash_spaces(text)
    shown = json.loads((mini / "build" / "notebooks" / "gan_fashion_mnist.ipynb").read_text())
    assert shown["metadata"]["hw_run"]["commit"] == "abc1234"
    assert "marker-notebooks" in text  # the committed outputs themselves
    # the companion is in the appendix, after the graded notebook, before the checks table
    graded = re.search(r"Stand-in for gan fashion mnist(?! beyond)", text).start()
    companion = text.index("Stand-in for gan fashion mnist beyond", graded)
    assert graded < companion < text.rindex("Checks by code")
    pages = json.loads((mini / "build" / "nyu-dl-fall2023.pages.json").read_text())
    assert list(pages["questions"]) == ["Problem 1", "Problem 2", "Problem 3", "Problem 4"]
    assert set(pages["notebooks"]) == {"gan_fashion_mnist", "gan_fashion_mnist_beyond"}
    assert pages["notebooks"]["gan_fashion_mnist"] == pages["questions"]["Problem 4"]
    assert set(pages["notebooks"]["gan_fashion_mnist_beyond"]) <= set(pages["appendix"])
    assert make(mini, "-q", "pdf", check=False).returncode == 0, "make -q pdf: out of date right after make pdf"


NEXT_YEAR = """
[[assignment]]
slug = "next-year-hw1"
title = "Next Year — Homework 1"
course = "Next Year HW1"
short = "Next Year HW1"
sections = []
questions = ["Problem 1"]
answers = { "Problem 1" = "next_year" }

[[notebook]]
stem = "next_year"
topic = "next_year"
title = "Next year's notebook"
"""


def test_a_new_assignment_joins_the_bundle_through_the_manifest_alone(mini, tmp_path):
    """A maintainer adds next year's homework: its notebook and its entries in bundle.toml, no
    other file. make pdf runs it (it has no recorded run), builds its PDF with the notebook as
    the question's answer, lists its pages, zips it, and puts it in the merged PDF."""
    repo = copy_of(mini, tmp_path)
    (repo / "bundle.toml").write_text((repo / "bundle.toml").read_text() + NEXT_YEAR)
    nbformat.write(fake_notebook("next_year", 7, topic="next_year"), repo / "notebooks" / "next_year.ipynb")
    log = make(repo, "pdf").stdout
    assert "1 of 5 need a run at smoke" in log and "next_year (no run recorded in it)" in log, log
    assert "next-year-hw1.pdf (pages to tag in Gradescope" in log
    pages = json.loads((repo / "build" / "next-year-hw1.pages.json").read_text())
    assert list(pages["questions"]) == ["Problem 1"] and pages["notebooks"]["next_year"] == pages["questions"]["Problem 1"]
    with zipfile.ZipFile(repo / "build" / "next-year-hw1.zip") as z:
        assert "next-year-hw1/next_year.ipynb" in z.namelist()
    for pdf in ("next-year-hw1.pdf", "submission.pdf"):
        text = pdf_text(repo / "build" / pdf)
        assert "Stand-in for next year" in text and "value 7" in text, pdf
    assert "Next Year — Homework 1" in pdf_text(repo / "build" / "submission.pdf")


def test_only_the_edited_notebook_runs_and_committed_figures_stay(mini, tmp_path):
    repo = copy_of(mini, tmp_path)
    figures = tree_digest(repo / "figures")
    edit_code(repo, "transformer_sentiment", 2)
    # a benchmark file the companion declares it reads (metadata.hw.reads)
    (repo / "figures" / "gan_fashion_mnist_beyond" / "seeds.json").write_text('{"seeds": [0, 1, 2, 3]}\n')
    assert make(repo, "-q", "pdf", check=False).returncode == 1, "make -q pdf: edited inputs are out of date"
    log = make(repo, "pdf").stdout
    assert "2 of 4 need a run at smoke" in log, log
    assert "transformer_sentiment (its code cells changed)" in log
    assert "gan_fashion_mnist_beyond (figures/gan_fashion_mnist_beyond/seeds.json changed)" in log
    assert sorted(re.findall(r"run: executing notebooks/(\w+)\.ipynb", log)) == \
        ["gan_fashion_mnist_beyond", "transformer_sentiment"]
    after = tree_digest(repo / "figures")
    del figures["gan_fashion_mnist_beyond/seeds.json"], after["gan_fashion_mnist_beyond/seeds.json"]
    assert after == figures, "make pdf changed the committed figures/"
    run = repo / "build" / "runs" / "transformer_sentiment"
    assert json.loads((run / "figures" / "sentiment" / "metrics.json").read_text())["value"] == 2
    assert "seeds [0, 1, 2, 3]" in pdf_text(repo / "build" / "nyu-dl-fall2023.pdf").replace('"seeds": ', "seeds ")
    assert make(repo, "-q", "pdf", check=False).returncode == 0
    # HW_SEED is an input too, and FRESH=1 asks for a run of everything
    summary = [sys.executable, str(repo / "tools" / "run_record.py"), "summary", "--build", str(repo / "build"),
               "--profile", "smoke", *TOPICS]
    out = subprocess.run(summary + ["--seed", "3"], capture_output=True, text=True, cwd=repo).stdout
    assert "HW_SEED=3, the recorded run used 0" in out
    out = subprocess.run(summary + ["--fresh", "1"], capture_output=True, text=True, cwd=repo).stdout
    assert "4 of 4 need a run at smoke" in out and "FRESH=1" in out


def test_publish_replaces_a_run_only_by_one_as_good_unless_forced(mini, tmp_path):
    repo = copy_of(mini, tmp_path)
    stem = "binary_addition_rnn"
    # pretend the committed run was a full one
    nb = json.loads((repo / "notebooks" / f"{stem}.ipynb").read_text())
    nb["metadata"]["hw_run"]["profile"] = "full"
    (repo / "notebooks" / f"{stem}.ipynb").write_text(json.dumps(nb))
    make(repo, "run", f"NB={stem}")  # a smoke run
    before = tree_digest(repo / "figures")
    proc = make(repo, "publish", f"NB={stem}", check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[0].startswith("FAILED: publish: binary_addition_rnn: the committed run "
                                                          "is full, this one is smoke; FORCE=1")
    assert tree_digest(repo / "figures") == before
    with pytest.raises(SystemExit, match="FORCE=1"):
        publish.check(stem, repo / "build", False, repo)
    publish.publish([stem], repo / "build", True, repo, table=False)
    published = json.loads((repo / "notebooks" / f"{stem}.ipynb").read_text())["metadata"]["hw_run"]
    assert published["profile"] == "smoke"
    assert json.loads((repo / "figures" / "binary_addition" / "metrics.json").read_text())["profile"] == "smoke"
    # a notebook edited after its run is not published over
    nbformat.write(fake_notebook(stem, 5), repo / "notebooks" / f"{stem}.ipynb")
    with pytest.raises(SystemExit, match="changed since the run"):
        publish.check(stem, repo / "build", True, repo)


# ------------------------------------------------------- builds that recover

def failed_lines(text: str) -> list:
    return [line for line in text.splitlines() if line.startswith("FAILED:")]


def wait_for(predicate, timeout=120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def latex_running(repo: Path) -> bool:
    return any((repo / "build" / "tex").glob(".*.attempt-*/*.log"))


def test_ctrl_c_during_latex_then_the_next_build_works(mini, tmp_path):
    repo = copy_of(mini, tmp_path)
    before = upload_set(repo)
    (repo / "theory" / "student.tex").write_text((repo / "theory" / "student.tex").read_text() + "% edited\n")
    proc = subprocess.Popen(["make", "--no-print-directory", "pdf", "PROFILE=smoke", "SYNC_CHECK=true"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: latex_running(repo) or proc.poll() is not None)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    failed = failed_lines(err)
    assert len(failed) == 1 and "LaTeX build of" in failed[0] and "interrupted by SIGINT" in failed[0], err
    assert "Traceback" not in err
    assert upload_set(repo) == before, "an interrupted build changed the upload set"
    assert not list((repo / "build" / "tex").glob(".*.attempt-*"))
    make(repo, "pdf")  # the next build recovers by itself
    assert upload_set(repo) != before
    assert make(repo, "-q", "pdf", check=False).returncode == 0


def held_latexmk(folder: Path) -> dict:
    """An environment whose latexmk waits, before running the real one, until `folder`/release exists (at
    most 120 s, so that it stops by itself); it touches `folder`/started when called."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "latexmk"
    script.write_text(f"""#!/bin/sh
touch '{folder}/started'
i=0
while [ ! -e '{folder}/release' ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
exec '{shutil.which("latexmk")}' "$@"
""")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_two_make_pdf_at_once_the_second_waits(mini, tmp_path):
    """The first make pdf is held inside LaTeX (a latexmk that waits for a file) while the second starts:
    the second says it waits, then finds the first one's work done."""
    repo = copy_of(mini, tmp_path)
    (repo / "theory" / "student.tex").write_text((repo / "theory" / "student.tex").read_text() + "% edited\n")
    gate = tmp_path / "gate"
    env = {**held_latexmk(gate), "HW_THREADS": "1"}
    cmd = ["make", "--no-print-directory", "pdf", "PROFILE=smoke", "SYNC_CHECK=true"]
    first = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(lambda: (gate / "started").exists() or first.poll() is not None)
        assert first.poll() is None, "the first make pdf ended before LaTeX ran"
        second = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        said_first = second.stdout.readline()  # make pdf's first line, while the first build holds the lock
    finally:
        (gate / "release").touch()
    out2, err2 = second.communicate(timeout=300)
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert "make pdf: another make pdf is running in this tree; waiting for it to finish" in said_first
    assert "submission:" in out1 and "submission:" not in out2, "the second build redid the first one's work"
    assert make(repo, "-q", "pdf", check=False).returncode == 0


@contextlib.contextmanager
def small_disk(path: Path, size: str):
    """A tmpfs of `size` at path (root only; skipped elsewhere)."""
    path.mkdir(parents=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_full_disk_during_a_notebook_run_says_so(mini, tmp_path):
    repo = copy_of(mini, tmp_path)
    edit_code(repo, "binary_addition_rnn", 7)
    with small_disk(tmp_path / "disk", "2m") as disk:
        proc = make(repo, "pdf", f"BUILD={disk}", env={"FAKE_FILL_MB": "4"}, check=False)
    assert proc.returncode != 0
    failed = failed_lines(proc.stderr)
    assert len(failed) == 1 and "binary_addition_rnn.ipynb" in failed[0], proc.stderr
    assert "the disk is full" in failed[0] and "MB free" in failed[0], failed[0]
    assert "Traceback" not in failed[0]


def test_a_full_disk_during_latex_says_so(mini, tmp_path):
    with small_disk(tmp_path / "disk", "1m") as disk:
        (disk / "filler").write_bytes(b"x" * (1024 * 1024 - 96 * 1024))  # leave 96 kB
        proc = subprocess.run([sys.executable, str(mini / "tools" / "build_pdf.py"), "--build", str(disk), "theory"],
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert failed_lines(proc.stderr) == [lines[-1]], proc.stderr[-2000:]
    assert "LaTeX build of theory" in lines[-1] or "writing" in lines[-1], lines[-1]
    assert "the disk is full" in lines[-1], lines[-1]
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------ the cover

NAMES = {
    "StudentName": "Zoë Ångström 李小龙 Ελένη Дмитрий",
    "StudentID": r"C:\new\name #7 {x} 50% a&b x_y 2^3 $5",
    "StudentEmail": "zoe~a@uni.edu.the.very.long.department.of.computer.science.and.engineering.example.edu",
    "Collaborators": "محمد علي; देवनागरी",
    "ToolsUsed": "PyTorch -- ``none'' else",
}


def write_student(path: Path, fields: dict) -> Path:
    path.write_text("".join(f"\\newcommand{{\\{k}}}{{{v}}}\n" for k, v in fields.items()), encoding="utf-8")
    return path


def test_the_cover_renders_every_script_and_special(mini, tmp_path):
    student = write_student(tmp_path / "student.tex", NAMES)
    proc = subprocess.run([sys.executable, str(mini / "tools" / "build_pdf.py"), "--build", str(tmp_path / "b"),
                           "--student", str(student), "theory", "--only", "cs230"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pdf = tmp_path / "b" / "theory-cs230.pdf"
    cover = subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True, text=True).stdout
    for name in ("StudentName", "StudentID", "StudentEmail", "ToolsUsed"):
        assert squash(NAMES[name]) in squash(cover), f"{name}: {NAMES[name]!r} not on the cover:\n{cover}"
    fonts = subprocess.run(["pdffonts", "-l", "1", str(pdf)], capture_output=True, text=True).stdout
    for family in ("CJK", "Arabic", "Devanagari"):
        assert family in fonts, f"no {family} font on the cover:\n{fonts}"
    log = (tmp_path / "b" / "tex" / "theory-cs230" / "theory-cs230.log").read_text(errors="replace")
    assert "Missing character" not in log
    # long fields wrap: nothing runs past the right margin
    bbox = subprocess.run(["pdftotext", "-bbox", "-l", "1", str(pdf), "-"], capture_output=True, text=True).stdout
    width = float(re.search(r'<page width="([\d.]+)"', bbox).group(1))
    assert max(float(x) for x in re.findall(r'xMax="([\d.]+)"', bbox)) < width - 40


def test_a_field_that_cannot_render_stops_with_one_line(mini, tmp_path):
    student = write_student(tmp_path / "student.tex", {**NAMES, "StudentEmail": "odd\u0378char@uni.edu"})
    proc = subprocess.run([sys.executable, str(mini / "tools" / "build_pdf.py"), "--build", str(tmp_path / "b"),
                           "--student", str(student), "theory", "--only", "cs230"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert proc.stderr.startswith("FAILED: cover:") and "student.tex" in proc.stderr
    assert "\\StudentEmail" in proc.stderr and "U+0378" in proc.stderr


def test_run_record_names_what_changed(tmp_path):
    nb = fake_notebook("gan_fashion_mnist_beyond", 1)
    (tmp_path / "figures" / "gan_fashion_mnist_beyond").mkdir(parents=True)
    (tmp_path / "figures" / "gan_fashion_mnist_beyond" / "seeds.json").write_text("{}")
    raw = json.loads(nbformat.writes(nb))
    record = run_record.current_inputs(raw, "0", tmp_path)
    assert run_record.differences(record, run_record.current_inputs(raw, None, tmp_path)) == ""
    raw["cells"][0]["source"] = "# another title"  # markdown is not an input of the outputs
    assert run_record.differences(record, run_record.current_inputs(raw, "0", tmp_path)) == ""
    (tmp_path / "figures" / "gan_fashion_mnist_beyond" / "seeds.json").write_text('{"a": 1}')
    assert run_record.differences(record, run_record.current_inputs(raw, "0", tmp_path)) == \
        "figures/gan_fashion_mnist_beyond/seeds.json changed"
