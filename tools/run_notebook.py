"""Execute a notebook with nbclient and write the executed copy atomically.

    python tools/run_notebook.py notebooks/gan_fashion_mnist.ipynb build/notebooks/gan_fashion_mnist.ipynb
    python tools/run_notebook.py notebooks/X.ipynb --inplace   # refresh the committed outputs

The notebook runs with its own folder as working directory and HW_UNATTENDED=1
(progress bars print their final state only). Whatever stops it (an error in a
cell, a cell timeout, a dead kernel, SIGTERM, Ctrl-C) is reported the same way:
one `FAILED:` line naming the notebook and the cell, then the details, a
non-zero exit, and the previous output file left untouched. The kernel is shut
down before the runner exits, so a stopped run never publishes its outputs.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atomic import atomic_output  # noqa: E402


ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks


class Stopped(Exception):
    """The runner got a signal (SIGTERM, or SIGINT from Ctrl-C)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


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


def _raise_stopped(signum, frame):
    raise Stopped(signum)


def _kill_kernel(client: TrackingClient) -> None:
    """Kill the kernel process at once (never raise): the runner is stopping."""
    provisioner = getattr(getattr(client, "km", None), "provisioner", None)
    process = getattr(provisioner, "process", None)
    if process is not None and process.poll() is None:
        process.kill()


def execute(source: Path, target: Path, timeout: int = 3600) -> None:
    nb = nbformat.read(source, as_version=4)
    os.environ["HW_UNATTENDED"] = "1"
    # The kernel talks to this process over localhost TCP, as every Jupyter kernel does; its
    # start-up warning about that ("running over TCP without encryption") is silenced.
    client = TrackingClient(nb, timeout=timeout, kernel_name="python3",
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
    previous = {s: signal.signal(s, _raise_stopped) for s in (signal.SIGTERM, signal.SIGINT)}
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
        for s, handler in previous.items():
            signal.signal(s, handler)
    err = outcome.get("error")
    if failure is None and err is not None:
        where = describe_cell(nb, client.current_index)
        if isinstance(err, CellExecutionError):
            failure = f"an error in {where}\n{err}"
        elif isinstance(err, CellTimeoutError):
            failure = f"{where} timed out after {timeout} s\n{err}"
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
        print(f"FAILED: {source}: {ANSI_COLOUR.sub('', failure)}", file=sys.stderr)
        raise SystemExit(code)
    with atomic_output(target) as tmp:
        nbformat.write(nb, tmp)
    print(f"executed {source} -> {target} in {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("output", type=Path, nargs="?")
    parser.add_argument("--inplace", action="store_true", help="overwrite the notebook itself")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args()
    if not args.notebook.exists():
        parser.error(f"no such notebook: {args.notebook}")
    if args.inplace == (args.output is not None):
        parser.error("give either an output path or --inplace")
    execute(args.notebook, args.notebook if args.inplace else args.output, args.timeout)


if __name__ == "__main__":
    main()
