"""Faults in one line: a full disk with the space left, an OSError without its
list of every file, an interrupt named once per `make`.

Standard library only (tools/run_record.py uses it while make reads the
Makefile, before the virtual environment exists).

- os_error_text(err, folder): what failed, on which file, and for a full disk
  (or a file size or quota limit) "the disk is full (N MB free in F)" and the
  fix. A shutil.Error (copytree's list of every file it could not copy) is
  told by its first failure and a count of the others.
- stop_signals(): from the first SIGINT or SIGTERM on, raise Stopped in the
  main thread and ignore the signals that follow (make passes its SIGTERM on
  to every job it runs, which a signal to the whole process group has reached
  already): a process that is stopping cleans up without a second
  interruption.
- report_stop(text): print "FAILED: <text>" when this process is the first of
  its `make` to be interrupted. One Ctrl-C reaches make and every job it runs
  side by side; the first to report names the interruption and the stage it
  hit, the others stay quiet. The Makefile exports HW_STOP_MARK, a file path
  unique to the make it was started by (inner makes inherit it); without it
  (a tool run by hand) every interruption is reported.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atomic import free_mb  # noqa: E402

DISK_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
DISK_WORDS = re.compile(r"No space left on device|Errno 28|File too large|Errno 27|Disk quota exceeded|Errno 122",
                        re.I)
DISK_FIX = "free some space and run it again"


def shown(path) -> str:
    """A path as a line shows it: relative to the working folder (the repository, under make) when inside it."""
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd())) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)


def disk_full(folder) -> str:
    """'the disk is full (0.2 MB free in build/tex)', the space read now."""
    free = free_mb(folder)
    return f"the disk is full ({free:.1f} MB free in {shown(folder)})" if free is not None else \
        f"the disk is full (in {shown(folder)})"


def os_error_text(err: BaseException, folder=None) -> str:
    """One short clause for an OSError: '<reason> (<file>)', and for a full disk
    ': the disk is full (N MB free in <folder>); free some space and run it again'.
    `folder`: where the space ran out (default: the failed file's folder)."""
    failures = err.args[0] if isinstance(err, shutil.Error) and err.args and isinstance(err.args[0], list) else None
    if failures:
        src, dst, why = failures[0]
        match = re.match(r"\[Errno (\d+)\] ([^:]*)", str(why))
        code = int(match.group(1)) if match else None
        reason = match.group(2).strip() if match else str(why)[:200]
        more = f" and {len(failures) - 1} more file(s)" if len(failures) > 1 else ""
        text, where = f"{reason} ({Path(dst).name}{more})", Path(dst).parent
    else:
        code = getattr(err, "errno", None)
        name = getattr(err, "filename", None)
        reason = getattr(err, "strerror", None) or str(err)[:300]
        text, where = reason + (f" ({shown(name)})" if name else ""), Path(name).parent if name else None
    if code in DISK_ERRNOS or DISK_WORDS.search(text):
        place = folder or where or Path.cwd()
        text += f": {disk_full(place)}; {DISK_FIX}"
    return text


def is_disk_full(err: BaseException) -> bool:
    return getattr(err, "errno", None) in DISK_ERRNOS or bool(DISK_WORDS.search(str(err)[:5000]))


# ------------------------------------------------------------ interruptions

class Stopped(BaseException):
    """SIGINT or SIGTERM: not an Exception, so that no `except Exception` takes it for a step's failure."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOPPED: dict = {}  # "signal": the first signal this process got


def _stop(signum, frame):
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)  # the build is stopping: the signals that follow change nothing
    STOPPED.setdefault("signal", signum)
    raise Stopped(signum)


def stop_signals() -> None:
    """From now on SIGINT and SIGTERM raise Stopped (once) in the main thread."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _stop)


def signal_words(signum: int) -> str:
    name = signal.Signals(signum).name
    return f"{name} (Ctrl-C)" if signum == signal.SIGINT else name


def first_to_report() -> bool:
    """Whether this process reports the interruption of its make (see the module text)."""
    mark = os.environ.get("HW_STOP_MARK")
    if not mark:
        return True
    try:
        Path(mark).parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    except OSError:
        return True  # cannot tell: better twice than never
    return True


def report_stop(text: str) -> None:
    if first_to_report():
        print(f"FAILED: {text}", file=sys.stderr, flush=True)


def stop_text(signum: int, doing: str) -> str:
    """'interrupted by SIGINT (Ctrl-C) while <doing>; every finished file is kept: run it again to go on'."""
    return (f"interrupted by {signal_words(signum)} while {doing}; every finished file is kept: "
            "run it again to go on from there")
