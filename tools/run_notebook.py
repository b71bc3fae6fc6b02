"""Execute a notebook with nbclient and write the executed copy atomically.

    python tools/run_notebook.py notebooks/gan_fashion_mnist.ipynb build/notebooks/gan_fashion_mnist.ipynb
    python tools/run_notebook.py notebooks/X.ipynb --inplace   # refresh the committed outputs

The notebook runs with its own folder as working directory (so it imports
notebooks/hwcommon.py) and HW_UNATTENDED=1 (progress bars print their final
state only). On a failing cell it prints the cell and the error, exits 1 and
leaves the previous output file untouched.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atomic import atomic_output  # noqa: E402


def execute(source: Path, target: Path, timeout: int = 3600) -> None:
    nb = nbformat.read(source, as_version=4)
    os.environ["HW_UNATTENDED"] = "1"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(source.parent.resolve())}})
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        print(f"FAILED: {source}\n{err}", file=sys.stderr)
        raise SystemExit(1) from None
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    if errors:
        print(f"FAILED: {source} has error outputs: {errors[0].get('ename')}", file=sys.stderr)
        raise SystemExit(1)
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
