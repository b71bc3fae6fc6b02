"""Faults say what happened (issue #40), on the stand-in repository of tests/test_make_pdf.py:

- the upload set says what it holds: a graded notebook shown from a smoke run, or from a run
  that is not its committed one, is named at the end of `make pdf`, and its PDF page says so
  at its top; the run stamp names profile, device and date, no commit;
- every setting (make's variables and the notebooks' HW_* variables) is checked before any
  work starts, by the notebooks' own rules: one line naming the variable, its value and what
  it accepts, and no kernel started;
- a full disk names the step that needed the space and the space left, in one short line,
  with no Python traceback, in the LaTeX stage and in `make run`;
- an interrupt is named as the interrupt, once, whatever stage it hit, and leaves every
  finished file in place; attempt and failed folders go with the next success.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from test_make_pdf import (TOPICS, copy_of, edit_code, failed_lines, latex_running, make, manifest,  # noqa: F401
                           mini, pdf_text, small_disk, squash_spaces, upload_set, wait_for)

GRADED = [nb.stem for nb in manifest.load().notebooks if nb.graded]


def make_pdf_popen(repo: Path, *args) -> subprocess.Popen:
    """`make pdf` in a session of its own, so that a signal can reach its whole process group as Ctrl-C does."""
    return subprocess.Popen(["make", "--no-print-directory", "pdf", "PROFILE=smoke", "SYNC_CHECK=true", *args],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "HW_THREADS": "1", "HW_OFFLINE": "1"})


def set_committed_profile(repo: Path, stem: str, profile: str) -> None:
    """Make the committed run of `stem` a run of `profile` (the profile is not one of a run's inputs)."""
    path = repo / "notebooks" / f"{stem}.ipynb"
    nb = json.loads(path.read_text())
    nb["metadata"]["hw_run"]["profile"] = profile
    path.write_text(json.dumps(nb))


# ------------------------------------------------------- the upload set

def test_the_upload_set_names_a_smoke_run_of_a_graded_notebook(mini, tmp_path):
    """A student edits a graded notebook's code and runs `make pdf PROFILE=smoke`: the PDF then shows
    a smoke run of it. The end of the log names every graded notebook's run and says that this one is
    a test, not an answer; its first PDF page says so in bold; the other notebooks' pages do not."""
    repo = copy_of(mini, tmp_path)
    for stem in TOPICS:
        set_committed_profile(repo, stem, "quick")
    edit_code(repo, GRADED[0], 2)
    log = make(repo, "pdf").stdout
    tail = log.strip().splitlines()[-len(GRADED) - 1:]
    report = [line for line in tail if line.startswith("upload set:")]
    assert report, f"no upload-set lines at the end of the log:\n{log[-1500:]}"
    warning = next((line for line in report if line.startswith(f"upload set: {GRADED[0]} ")), "")
    assert "smoke run" in warning and "not the committed quick run" in warning, report
    assert "a test, not an answer" in warning and "PROFILE=quick" in warning, warning
    text = " ".join(report)
    for stem in GRADED[1:]:
        assert re.search(rf"\b{stem} \(quick", text), f"{stem}'s profile is not named: {report}"
    shown = squash_spaces(pdf_text(repo / "build" / f"{manifest.load().assignment_of(GRADED[0]).slug}.pdf"))
    assert shown.count("SMOKE RUN — a test of the code, not an answer") == 1, shown[:3000]
    # the warning is at the top of the smoke run's first page, right under its title, then the run stamp
    title = f"Stand-in for {GRADED[0].replace('_', ' ')}"
    assert re.search(rf"{title} SMOKE RUN — a test of the code, not an answer: its numbers mean nothing\. "
                     r"One cell\. Run shown: smoke profile, cpu \(1 thread\), \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", shown), shown
    other = squash_spaces(pdf_text(repo / "build" / f"{manifest.load().assignment_of(GRADED[1]).slug}.pdf"))
    assert "SMOKE RUN" not in other
    assert "Run shown: quick profile, cpu (1 thread), 2026-01-02 03:04 UTC." in other, other
    assert "commit" not in re.search(r"Run shown:[^.]*\.", other).group(0)


# ------------------------------------------------------- settings first

BAD = [  # (make arguments, environment, words the one line must hold)
    (["pdf"], {"HW_SEED": "-1"}, ["HW_SEED", "-1", "integer from 0 to"]),
    (["pdf", "HW_SEED=abc"], {}, ["HW_SEED", "'abc'", "integer from 0 to"]),
    (["pdf"], {"HW_PROFILE": "fast"}, ["HW_PROFILE", "'fast'", "smoke, quick, full"]),
    (["pdf"], {"HW_THREADS": "0"}, ["HW_THREADS", "got 0", "positive integer"]),
    (["pdf"], {"HW_OFFLINE": "maybe"}, ["HW_OFFLINE", "'maybe'", "1/true/yes/on", "0/false/no/off"]),
    (["pdf"], {"HW_HOMEWORK_DATA": "sometimes"}, ["HW_HOMEWORK_DATA", "'sometimes'", "1/true/yes/on"]),
    (["pdf"], {"HW_DEVICE": "tpu"}, ["HW_DEVICE", "'tpu'", "cpu or cuda"]),
    (["pdf", "TIMEOUT=-5"], {}, ["TIMEOUT", "'-5'", "positive"]),
    (["pdf", "TIMEOUT=abc"], {}, ["TIMEOUT", "'abc'", "positive"]),
    (["pdf", "FRESH=maybe"], {}, ["FRESH", "'maybe'", "1/true/yes/on"]),
    (["run", "NB=binary_addition_rnn", "TIMEOUT=abc"], {}, ["TIMEOUT", "'abc'", "positive"]),
    (["run", "NB=nope"], {}, ["NB", "nope", *TOPICS]),
    (["publish", "NB=nope"], {}, ["NB", "nope", *TOPICS]),
    (["publish", "NB=binary_addition_rnn", "FORCE=maybe"], {}, ["FORCE", "'maybe'", "1/true/yes/on"]),
]


@pytest.mark.parametrize("args, env, words", BAD, ids=[" ".join(a) + "".join(f" {k}={v}" for k, v in e.items())
                                                      for a, e, _ in BAD])
def test_a_bad_setting_stops_make_before_any_work_in_one_line(mini, tmp_path, args, env, words):
    repo = copy_of(mini, tmp_path)
    edit_code(repo, "binary_addition_rnn", 3)  # a notebook that would run
    before = upload_set(repo)
    proc = make(repo, *args, check=False, env=env)
    assert proc.returncode != 0, proc.stdout[-2000:]
    failed = failed_lines(proc.stderr)
    assert len(failed) == 1, proc.stderr
    for word in words:
        assert word in failed[0], f"{word!r} not in {failed[0]!r}"
    out = proc.stdout + proc.stderr
    for sign in ("need a run", "run: executing", "usage:", "Traceback", "FAILED: notebooks/", "error in cell"):
        assert sign not in out, f"{sign!r}: work started before the settings were checked\n{out[-2000:]}"
    assert not (repo / "build" / "runs").exists()
    assert upload_set(repo) == before


def test_a_bad_profile_reads_the_same_from_make_and_from_the_notebooks(mini, tmp_path):
    """PROFILE is refused while make reads the Makefile, HW_PROFILE by the notebooks' rule: one wording."""
    proc = subprocess.run(["make", "--no-print-directory", "pdf", "PROFILE=fast"], cwd=mini, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "PROFILE must be one of smoke, quick, full; got 'fast'" in proc.stderr, proc.stderr
    repo = copy_of(mini, tmp_path)
    proc = make(repo, "pdf", check=False, env={"HW_PROFILE": "fast"})
    assert "HW_PROFILE must be one of smoke, quick, full; got 'fast'" in proc.stderr, proc.stderr


def test_good_settings_pass_in_any_case(mini, tmp_path):
    repo = copy_of(mini, tmp_path)
    proc = make(repo, "pdf", "FRESH=No", "TIMEOUT=600", env={"HW_SEED": "0", "HW_OFFLINE": "Yes", "HW_DEVICE": "cpu"})
    assert not failed_lines(proc.stderr)


# ------------------------------------------------------- a full disk

def remount(path: Path, size_kb: int) -> None:
    proc = subprocess.run(["mount", "-o", f"remount,size={size_kb}k", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def used_kb(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


def test_a_full_disk_in_the_latex_stage_names_the_document_and_the_space(mini, tmp_path):
    """The build folder on a disk with 200 kB left: seeding a LaTeX build from the last good one
    needs more. Each failure is one short line naming its own document and the space left."""
    repo = copy_of(mini, tmp_path)
    (repo / "theory" / "student.tex").write_text((repo / "theory" / "student.tex").read_text() + "% edited\n")
    with small_disk(tmp_path / "disk", "64m") as disk:
        shutil.copytree(repo / "build", disk, symlinks=True, dirs_exist_ok=True)
        remount(disk, used_kb(disk) + 200)
        proc = make(repo, "pdf", f"BUILD={disk}", check=False)
    assert proc.returncode != 0
    failed = failed_lines(proc.stderr)
    assert failed, proc.stderr[-3000:]
    for line in failed:
        assert len(line) < 600, line
        assert "the disk is full" in line and "MB free" in line, line
        document = re.match(r"FAILED: LaTeX build of ([\w-]+)", line)
        assert document, line
        for folder in re.findall(r"\.([\w-]+)\.attempt-", line):
            assert folder == document.group(1), f"the line names {document.group(1)}, the copy was {folder}: {line}"
    assert "Traceback" not in proc.stderr and "[(" not in proc.stderr


def test_a_full_disk_in_make_run_is_one_line(mini, tmp_path):
    """`make run` copies the files a notebook reads into its run folder first: on a full disk that
    step says so (with the space left), not a traceback."""
    repo = copy_of(mini, tmp_path)
    with small_disk(tmp_path / "disk", "1m") as disk:
        shutil.copytree(repo / "build" / "stamps", disk / "stamps")
        (disk / ".lock").touch()
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(b"x" * free)
        proc = make(repo, "run", "NB=gan_fashion_mnist_beyond", f"BUILD={disk}", check=False)
    assert proc.returncode != 0
    failed = failed_lines(proc.stderr)
    assert len(failed) == 1, proc.stderr[-3000:]
    assert "the disk is full" in failed[0] and "MB free" in failed[0], failed[0]
    assert "gan_fashion_mnist_beyond" in failed[0] and len(failed[0]) < 600, failed[0]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


# ------------------------------------------------------- interrupts

def group_processes(pgid: int) -> list:
    """(pid, comm, cmdline) of the processes of a process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append((int(entry.name), stat[stat.index("(") + 1:stat.rindex(")")], cmdline))
        except (OSError, ValueError, IndexError):
            continue
    return found


def converting_notebooks(pgid: int) -> bool:
    """Whether the notebook-PDF stage is under way: xelatex runs for a `build_pdf.py notebook`."""
    procs = group_processes(pgid)
    return any("build_pdf.py notebook" in cmd for _, _, cmd in procs) and any(c == "xelatex" for _, c, _ in procs)


def test_an_interrupt_in_the_notebook_pdf_stage_is_named_once(mini, tmp_path):
    repo = copy_of(mini, tmp_path)
    pdfs = sorted((repo / "build" / "notebooks").glob("*.pdf"))
    assert len(pdfs) == len(TOPICS)
    os.utime(repo / "tools" / "build_pdf.py")  # every notebook PDF is made again, two at a time
    proc = make_pdf_popen(repo)
    wait_for(lambda: converting_notebooks(proc.pid) or proc.poll() is not None, timeout=300)
    assert proc.poll() is None, "the build ended before its notebook-PDF stage could be interrupted"
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    failed = failed_lines(err)
    assert len(failed) == 1, err
    assert "interrupted by SIGINT" in failed[0] and "converting" in failed[0], failed[0]
    assert "nbconvert + xelatex" not in err and "SIGINT" not in [line.strip() for line in err.splitlines()], err
    assert "Traceback" not in err, err
    assert all(p.is_file() for p in pdfs), "a notebook PDF was deleted"
    # make never deletes a finished notebook, notebook PDF or upload set (they are written whole)
    database = subprocess.run(["make", "-p", "-q", "-n", "pdf", "PROFILE=smoke"], cwd=repo, capture_output=True,
                              text=True).stdout
    precious = " ".join(line for line in database.splitlines() if line.startswith(".PRECIOUS:"))
    for target in ("build/notebooks/%.pdf", "build/notebooks/%.ipynb", "build/submission.pdf"):
        assert target in precious, f".PRECIOUS lacks {target}: {precious!r}"
    make(repo, "pdf")
    assert make(repo, "-q", "pdf", check=False).returncode == 0


@pytest.mark.parametrize("whom", ["group", "make"])
def test_sigterm_in_the_latex_stage_stops_the_build_and_leaves_no_attempt_folder(mini, tmp_path, whom):
    """SIGTERM to the whole process group (a session's end), or to make alone (`kill <pid>`, a time-out
    that signals its child only): make passes it on to the job it runs, which stops then and there.
    One line names it; no LaTeX run goes on behind make's back to switch the upload set later, and no
    attempt folder is left."""
    repo = copy_of(mini, tmp_path)
    before = upload_set(repo)
    (repo / "theory" / "student.tex").write_text((repo / "theory" / "student.tex").read_text() + "% edited\n")
    proc = make_pdf_popen(repo)
    wait_for(lambda: latex_running(repo) or proc.poll() is not None)
    if whom == "group":
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    time.sleep(2)  # what would still run after make has gone
    left = [cmd for _, _, cmd in group_processes(proc.pid)]
    assert not left, f"still running after make exited: {left}"
    failed = failed_lines(err)
    assert len(failed) == 1 and "interrupted by SIGTERM" in failed[0] and "LaTeX build of" in failed[0], err
    assert "Traceback" not in err, err
    assert not list((repo / "build" / "tex").glob(".*.attempt-*")), sorted((repo / "build" / "tex").iterdir())
    assert upload_set(repo) == before


def test_the_next_success_removes_attempt_and_failed_folders(mini, tmp_path):
    repo = copy_of(mini, tmp_path)
    tex = repo / "build" / "tex"
    for folder in (tex / ".submission.attempt-999999999", tex / "submission.failed", tex / "theory.failed"):
        folder.mkdir()
        (folder / "left.log").write_text("from an earlier build\n")
    (repo / "theory" / "student.tex").write_text((repo / "theory" / "student.tex").read_text() + "% edited\n")
    make(repo, "pdf")
    assert not list(tex.glob(".*.attempt-*")) and not (tex / "submission.failed").exists()
    assert (tex / "theory.failed").exists(), "a document this build did not make keeps its failed build's log"


# ------------------------------------------------------- one line per fault

def test_an_os_error_reads_as_one_short_line(tmp_path):
    import faults
    many = shutil.Error([(f"/a/src/f{i}", f"/b/dst/f{i}", f"[Errno 28] No space left on device: '/a/src/f{i}' -> "
                          f"'/b/dst/f{i}'") for i in range(40)])
    text = faults.os_error_text(many, tmp_path)
    assert text.startswith("No space left on device (f0 and 39 more file(s)): the disk is full (") and "MB free" in text
    assert len(text) < 300 and "[(" not in text, text
    plain = faults.os_error_text(PermissionError(13, "Permission denied", str(tmp_path / "x.pdf")))
    assert plain.startswith("Permission denied (") and "disk" not in plain, plain


def test_a_full_disk_when_copying_the_notebook_the_pdf_shows(mini, tmp_path):
    import run_notebook
    with small_disk(tmp_path / "disk", "1m") as disk:
        (disk / "filler").write_bytes(b"x" * (os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize))
        with pytest.raises(SystemExit) as stop:
            run_notebook.copy_notebook(mini / "notebooks" / "binary_addition_rnn.ipynb", disk / "notebooks" / "b.ipynb")
    line = str(stop.value.code)
    assert line.startswith("FAILED: copying ") and "the notebook the PDF shows" in line, line
    assert "the disk is full" in line and "MB free" in line and "\n" not in line, line
