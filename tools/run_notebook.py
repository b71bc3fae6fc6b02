"""Execute a notebook with nbclient and write the executed copy atomically.

    python tools/run_notebook.py notebooks/<stem>.ipynb /tmp/out/<stem>.ipynb
    python tools/run_notebook.py run STEM --build build --profile full
        (`make run NB=STEM`) a fresh run of notebooks/STEM.ipynb into
        build/runs/STEM/ (HW_ROOT there: its figures/, its build/<topic>/)
    python tools/run_notebook.py select STEM --build build --profile quick [--fresh]
        (`make pdf`) build/notebooks/STEM.ipynb, the notebook the PDF shows:
        the committed one when its recorded run matches its inputs, else a
        run from build/runs/STEM/ that does, else a new run there

Every executed notebook records what produced it in metadata.hw_run
(tools/run_record.py: hashes of its code cells and of the files it declares
in metadata.hw.reads, the seed, the profile, device, date and commit); no
execution timestamps are kept in cell metadata. The files a notebook reads
are copied into its run folder first, so a run never reads or writes the
committed figures/. `make publish` (tools/publish.py) is the one step that
copies a finished run into figures/ and notebooks/.

The notebook runs with its own folder as working directory and HW_UNATTENDED=1
(progress bars print their final state only). Whatever stops it (an error in a
cell, a cell timeout, a dead kernel, SIGTERM, Ctrl-C) is reported the same way:
one `FAILED:` line naming the notebook and the cell, then the details, a
non-zero exit, and the previous output file left untouched. The kernel is shut
down before the runner exits, so a stopped run never publishes its outputs.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atomic import atomic_output, free_mb  # noqa: E402
import faults  # noqa: E402
import run_record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# What a full disk (or a file size limit) looks like from inside a cell.
DISK_FULL = re.compile(r"No space left on device|ENOSPC|Errno 28|File too large|EFBIG|Errno 27|Disk quota exceeded"
                       r"|iostream error|PytorchStreamWriter failed|unexpected pos", re.I)


ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks
# Seconds one cell may run before the run is stopped as hung. A full run's training cell trains
# two GANs for 40 epochs: 22 minutes on two quiet CPU cores, over an hour on two busy ones.
CELL_TIMEOUT = {"smoke": 3600, "quick": 3600, "full": 8 * 3600}
TIMEOUT_HELP = "seconds per cell (default: " + ", ".join(f"{p} {s // 3600} h" for p, s in CELL_TIMEOUT.items()) + ")"


def seconds_per_cell(raw) -> int:
    """A per-cell limit as given (an int, or the text of --timeout or `make ... TIMEOUT=`); a
    ValueError says what it accepts (tools/settings.py checks TIMEOUT with it before make starts)."""
    text = str(raw).strip()
    value = int(text) if text.isascii() and text.isdigit() else 0
    if value <= 0:
        raise ValueError(f"must be a positive whole number of seconds per cell; got {raw!r}")
    return value


def cell_timeout(requested, profile: str) -> int:
    """The per-cell limit: `requested` (--timeout, `make ... TIMEOUT=`) or the profile's default."""
    if requested is None or str(requested).strip() == "":
        return CELL_TIMEOUT.get(profile, CELL_TIMEOUT["quick"])
    try:
        return seconds_per_cell(requested)
    except ValueError as err:
        raise SystemExit(f"FAILED: --timeout (TIMEOUT= for make) {err}") from None


Stopped = faults.Stopped  # the runner got a signal (SIGTERM, or SIGINT from Ctrl-C)


class TrackingClient(NotebookClient):
    """A NotebookClient that remembers which cell is running."""

    current_index: int | None = None

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        self.current_index = cell_index
        return await super().async_execute_cell(cell, cell_index, *args, **kwargs)


def describe_cell(nb, index: int | None) -> str:
    if index is None:
        return "before the first cell (starting the kernel)"
    cells = nb.cells
    code_number = sum(1 for c in cells[: index + 1] if c.cell_type == "code")
    first_line = next((line for line in cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index} (code cell {code_number}: {first_line[:70]!r})"


def _kill_kernel(client: TrackingClient) -> None:
    """Kill the kernel process at once (never raise): the runner is stopping."""
    provisioner = getattr(getattr(client, "km", None), "provisioner", None)
    process = getattr(provisioner, "process", None)
    if process is not None and process.poll() is None:
        process.kill()


def strip_timestamps(nb) -> None:
    """No execution timestamps in cell metadata: they change on every run."""
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)


def _disk_full_note(text: str, folders) -> str:
    """' (the disk is full: ...)' when the failure reads like a full disk."""
    if not DISK_FULL.search(text):
        return ""
    where = ", ".join(f"{f}: {m:.0f} MB free" for f in folders if (m := free_mb(f)) is not None)
    return f"; the disk is full or a file size limit was hit ({where}): free some space and run it again"


def _git(*args) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _commit(paths) -> str:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    rel = [str(Path(p).resolve().relative_to(REPO)) for p in paths if Path(p).resolve().is_relative_to(REPO)]
    if rel and _git("status", "--porcelain", "--", *rel):
        commit += " + local changes"
    return commit


def _run_identity(root: Path, before: dict) -> dict:
    """Device, threads and topics of the metrics.json files this run wrote
    under root (`before`: topic -> sha256 of its metrics.json before the run)."""
    identity: dict = {"topics": []}
    for metrics in sorted((root / "figures").glob("*/metrics.json")) if root else []:
        if before.get(metrics.parent.name) == run_record._sha(metrics.read_bytes()):
            continue  # there before the run, not written by it
        identity["topics"].append(metrics.parent.name)
        with contextlib.suppress(ValueError, OSError):
            m = json.loads(metrics.read_text())
            identity.setdefault("device", m.get("device"))
            identity.setdefault("threads", m.get("threads"))
            identity.setdefault("profile", m.get("profile"))
    if identity.get("device") == "cuda":
        name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True).stdout.strip().splitlines()
        if name:
            identity["device"] = f"cuda ({name[0]})"
    return identity


def execute(source: Path, target: Path, timeout: int, before: dict | None = None) -> None:
    nb = nbformat.read(source, as_version=4)
    os.environ["HW_UNATTENDED"] = "1"
    current = run_record.current_inputs(json.loads(Path(source).read_text(encoding="utf-8")),
                                        os.environ.get("HW_SEED"))
    root = Path(os.environ["HW_ROOT"]).resolve() if os.environ.get("HW_ROOT") else None
    if before is None and root is not None:
        before = {m.parent.name: run_record._sha(m.read_bytes()) for m in (root / "figures").glob("*/metrics.json")}
    # The kernel talks to this process over localhost TCP, as every Jupyter kernel does; its
    # start-up warning about that ("running over TCP without encryption") is silenced.
    client = TrackingClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(source.parent.resolve())}})
    outcome: dict = {}

    def work():
        try:
            client.execute()
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            outcome["error"] = err

    # nbclient runs in a worker thread, so that SIGTERM and Ctrl-C reach the
    # handlers below (in the main thread) instead of nbclient's own, which
    # leave it half cleaned up.
    worker = threading.Thread(target=work, name="nbclient", daemon=True)
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    faults.stop_signals()
    started = time.perf_counter()
    failure, code = None, 1
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    except Stopped as stop:
        code = 128 + stop.signum
        failure = f"interrupted by {stop.args[0]} in {describe_cell(nb, client.current_index)}"
        _kill_kernel(client)
        worker.join(30)
    finally:
        if code == 1:  # a stopped run keeps ignoring the signals that follow until it has exited
            for s, handler in previous.items():
                signal.signal(s, handler)
    err = outcome.get("error")
    if failure is None and err is not None:
        where = describe_cell(nb, client.current_index)
        if isinstance(err, CellExecutionError):
            failure = f"an error in {where}\n{err}"
        elif isinstance(err, CellTimeoutError):
            failure = (f"{where} timed out after {timeout} s (a longer limit per cell: TIMEOUT=<seconds> for make, "
                       f"--timeout here)\n{err}")
        elif isinstance(err, DeadKernelError):
            failure = f"the kernel died in {where} ({err})"
        else:
            failure = f"{type(err).__name__} in {where}: {err}"
    if failure is None:
        errors = [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code"
                  for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            index, error = errors[0]
            failure = f"{describe_cell(nb, index)} has an error output: {error.get('ename')}: {error.get('evalue')}"
    if failure is not None:
        failure = ANSI_COLOUR.sub('', failure)
        first, _, rest = failure.partition("\n")
        first += _disk_full_note(failure, [f for f in (root, Path(target).parent) if f])
        if code != 1 and not faults.first_to_report():
            raise SystemExit(code)  # another job of this make has named the interruption
        print(f"FAILED: {source}: {first}" + (f"\n{rest}" if rest else ""), file=sys.stderr)
        raise SystemExit(code)
    strip_timestamps(nb)
    seconds = time.perf_counter() - started
    identity = _run_identity(root, before) if root else {"topics": []}
    nb.metadata["hw_run"] = {
        **current,
        "profile": identity.pop("profile", None) or os.environ.get("HW_PROFILE", "") or "unknown",
        "device": identity.pop("device", None) or "unknown",
        "threads": identity.pop("threads", None),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit([source, *(REPO / r for r in current["reads"])]),
        "seconds": round(seconds, 1),
        **identity,
    }
    try:
        with atomic_output(target) as tmp:
            nbformat.write(nb, tmp)
    except OSError as err:
        print(f"FAILED: {source}: writing the executed copy {target}: {faults.os_error_text(err, Path(target).parent)}",
              file=sys.stderr)
        raise SystemExit(1) from None
    print(f"executed {source} -> {target} in {seconds:.0f} s")


# ------------------------------------------------- the runs `make` starts

@contextlib.contextmanager
def run_lock(folder: Path, what: str):
    """One run of a notebook at a time: a second one waits, saying so once."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{what}: another run of it is going on ({folder}); waiting for it to finish", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def seed_run_folder(current: dict, root: Path) -> dict:
    """Give the run folder what the notebook may read from the committed
    figures/: the files it declares (metadata.hw.reads, always copied, at
    their repository-relative paths) and every other figures/<topic>/ folder
    except those the previous run in this folder wrote (its own outputs,
    kept files included, are in there already). Returns the sha256 of each
    metrics.json there now, to tell the folders this run writes."""
    previous = root / f"{root.name}.ipynb"
    record = run_record.record_of(run_record.read_notebook(previous)) if previous.is_file() else None
    own = set(record.get("topics", [])) if record else set()
    for folder in sorted((REPO / "figures").iterdir()) if (REPO / "figures").is_dir() else []:
        if folder.is_dir() and folder.name not in own and not folder.name.startswith("."):
            shutil.copytree(folder, root / "figures" / folder.name, dirs_exist_ok=True)
    for rel in current["reads"]:
        src, dst = REPO / rel, root / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(dst) as tmp:
                shutil.copyfile(src, tmp)
    return {m.parent.name: run_record._sha(m.read_bytes()) for m in (root / "figures").glob("*/metrics.json")}


def run_folder(build: Path, stem: str) -> Path:
    return (build / "runs" / stem).resolve()


def fresh_run(stem: str, build: Path, profile: str, timeout: int, why: str = "") -> Path:
    """Execute notebooks/<stem>.ipynb at `profile` into build/runs/<stem>/."""
    source = REPO / "notebooks" / f"{stem}.ipynb"
    if not source.is_file():
        raise SystemExit(f"FAILED: no notebook notebooks/{stem}.ipynb")
    root = run_folder(build, stem)
    target = root / f"{stem}.ipynb"
    with run_lock(root, stem):
        current = run_record.current_inputs(run_record.read_notebook(source), os.environ.get("HW_SEED"))
        try:
            before = seed_run_folder(current, root)
        except OSError as err:
            raise SystemExit(f"FAILED: run of {stem}: copying the files it reads (figures/, metadata.hw.reads) "
                             f"into its run folder: {faults.os_error_text(err, root)}") from None
        os.environ.update(HW_ROOT=str(root), HW_PROFILE=profile)
        print(f"run: executing notebooks/{stem}.ipynb at {profile}" + (f" ({why})" if why else "")
              + f" -> {target.relative_to(REPO) if target.is_relative_to(REPO) else target}", flush=True)
        execute(source, target, timeout, before)
    return target


def copy_notebook(src: Path, dst: Path) -> None:
    nb = nbformat.read(src, as_version=4)
    strip_timestamps(nb)
    try:
        with atomic_output(dst) as tmp:
            nbformat.write(nb, tmp)
    except OSError as err:
        raise SystemExit(f"FAILED: copying {src} to {dst}, the notebook the PDF shows: "
                         f"{faults.os_error_text(err, Path(dst).parent)}") from None


def select(stem: str, build: Path, profile: str, fresh: bool, timeout: int) -> None:
    """build/notebooks/<stem>.ipynb: the run the PDF shows (see the module text)."""
    p = run_record.plan(stem, profile, os.environ.get("HW_SEED"), fresh)
    target = build / "notebooks" / f"{stem}.ipynb"
    if p["kind"] == "committed":
        copy_notebook(REPO / "notebooks" / f"{stem}.ipynb", target)
        print(f"{stem}: the committed run ({run_record.describe(p['record'])}) matches its inputs: shown as it is")
        return
    previous = run_folder(build, stem) / f"{stem}.ipynb"
    record = run_record.record_of(run_record.read_notebook(previous)) if previous.is_file() else None
    if run_record.usable_run(record, p):
        print(f"{stem}: the run in {previous.parent} ({run_record.describe(record)}) matches its inputs: shown")
    else:
        # one notebook executes at a time (`make pdf` runs its other steps side by side)
        (build / "runs").mkdir(parents=True, exist_ok=True)
        with open(build / "runs" / ".execute.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            previous = fresh_run(stem, build, profile, timeout, why=p["why"])
    copy_notebook(previous, target)


def make_main(argv: list) -> None:
    parser = argparse.ArgumentParser(prog="run_notebook.py", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["run", "select"])
    parser.add_argument("stems", nargs="+")
    parser.add_argument("--build", type=Path, default=REPO / "build")
    parser.add_argument("--profile", required=True, choices=sorted(run_record.PROFILE_RANK))
    parser.add_argument("--fresh", action="store_true", help="select: a run at --profile whatever is committed")
    parser.add_argument("--timeout", help=TIMEOUT_HELP)
    args = parser.parse_args(argv)
    args.timeout = cell_timeout(args.timeout, args.profile)
    doing = "starting"
    faults.stop_signals()
    try:
        for stem in (s.removesuffix(".ipynb").removeprefix("notebooks/") for s in args.stems):
            doing = (f"running notebooks/{stem}.ipynb" if args.mode == "run"
                     else f"preparing {args.build / 'notebooks' / stem}.ipynb, the notebook the PDF shows")
            if args.mode == "run":
                fresh_run(stem, args.build, args.profile, args.timeout)
            else:
                select(stem, args.build, args.profile, args.fresh, args.timeout)
    except Stopped as stop:  # outside a cell (execute names the cell itself)
        faults.report_stop(faults.stop_text(stop.signum, doing))
        raise SystemExit(128 + stop.signum) from None
    except OSError as err:
        raise SystemExit(f"FAILED: {doing}: {faults.os_error_text(err, args.build)}") from None


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("run", "select"):
        make_main(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("output", type=Path, nargs="?")
    parser.add_argument("--inplace", action="store_true", help="overwrite the notebook itself")
    parser.add_argument("--timeout", help=TIMEOUT_HELP + ", the profile being HW_PROFILE's, else quick")
    args = parser.parse_args()
    args.timeout = cell_timeout(args.timeout, os.environ.get("HW_PROFILE") or "quick")
    if not args.notebook.exists():
        parser.error(f"no such notebook: {args.notebook}")
    if args.inplace == (args.output is not None):
        parser.error("give either an output path or --inplace")
    execute(args.notebook, args.notebook if args.inplace else args.output, args.timeout)


if __name__ == "__main__":
    main()
