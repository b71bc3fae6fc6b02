"""Publish a finished run: the one step that changes the committed results.

    python tools/publish.py STEM [STEM...] [--build build] [--force]
    (`make publish NB=STEM`, `make publish NB=STEM FORCE=1`)

For each notebook it takes the run in build/runs/STEM/ (made by `make run
NB=STEM` or by `make pdf`) and
  - replaces figures/<topic>/ by that run's figures/<topic>/ (each folder the
    run wrote, swapped in as a whole),
  - replaces notebooks/STEM.ipynb by the executed notebook (its outputs and
    its metadata.hw_run record, no execution timestamps),
  - rewrites the results table of docs/results.md from figures/ (tools/results_table.py).
It refuses, with one line and nothing changed, when the run is not there or
not finished, when notebooks/STEM.ipynb changed since the run (publishing
would throw the change away), or when the committed run has a higher profile
(full > quick > smoke) than the new one, unless --force.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faults  # noqa: E402
import run_record  # noqa: E402
from atomic import atomic_output  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def refuse(message: str) -> None:
    raise SystemExit(f"FAILED: publish: {message}")


def committed_profile(stem: str, topics: list, figures: Path, repo: Path = REPO) -> str | None:
    """The profile of what is committed now: the notebook's record, else its metrics files."""
    path = repo / "notebooks" / f"{stem}.ipynb"
    record = run_record.record_of(run_record.read_notebook(path)) if path.is_file() else None
    profiles = [record.get("profile")] if record else []
    for topic in topics:
        metrics = figures / topic / "metrics.json"
        if metrics.is_file():
            try:
                profiles.append(json.loads(metrics.read_text()).get("profile"))
            except ValueError:
                pass
    ranked = [p for p in profiles if p in run_record.PROFILE_RANK]
    return max(ranked, key=run_record.PROFILE_RANK.get) if ranked else None


def swap_folder(new: Path, published: Path, keep: list) -> None:
    """Copy folder `new` to `published`, replacing it as a whole (two renames);
    the files named in `keep` (files the notebook reads but another tool
    writes) stay when the run did not bring its own copy."""
    published.parent.mkdir(parents=True, exist_ok=True)
    incoming = published.parent / f".new-{published.name}-{os.getpid()}"
    old = published.parent / f".old-{published.name}-{os.getpid()}"
    shutil.rmtree(incoming, ignore_errors=True)
    try:
        shutil.copytree(new, incoming)
    except OSError:
        shutil.rmtree(incoming, ignore_errors=True)  # the space it took; `published` is as it was
        raise
    for name in keep:
        if (published / name).is_file() and not (incoming / name).exists():
            (incoming / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(published / name, incoming / name)
    if published.exists():
        os.replace(published, old)
    os.replace(incoming, published)
    shutil.rmtree(old, ignore_errors=True)


def check(stem: str, build: Path, force: bool, repo: Path = REPO) -> tuple:
    figures = repo / "figures"
    root = build / "runs" / stem
    executed = root / f"{stem}.ipynb"
    if not executed.is_file():
        refuse(f"no finished run of {stem} in {root} (make run NB={stem} PROFILE=... first)")
    record = run_record.record_of(run_record.read_notebook(executed))
    if record is None:
        refuse(f"{executed} records no run (metadata.hw_run): run it again with make run NB={stem}")
    source = repo / "notebooks" / f"{stem}.ipynb"
    current = run_record.current_inputs(run_record.read_notebook(source), record.get("seed"), repo)
    if current["source"] != record.get("source") or current["inputs"] != record.get("inputs"):
        why = run_record.differences(record, current) or "its cells changed"
        refuse(f"notebooks/{stem}.ipynb changed since the run in {root} ({why}): make run NB={stem} first")
    topics = record.get("topics") or []
    missing = [t for t in topics if not (root / "figures" / t / "metrics.json").is_file()]
    if not topics or missing:
        refuse(f"the run in {root} wrote no complete figures/<topic>/ ({missing or 'none'})")
    new, old = record.get("profile"), committed_profile(stem, topics, figures, repo)
    if old and run_record.PROFILE_RANK.get(new, -1) < run_record.PROFILE_RANK[old] and not force:
        refuse(f"{stem}: the committed run is {old}, this one is {new}; "
               f"FORCE=1 (make publish NB={stem} FORCE=1) replaces it anyway")
    return root, executed, record, topics


def publish(stems: list, build: Path, force: bool, repo: Path = REPO, table: bool = True) -> None:
    figures = repo / "figures"
    checked = [(stem, *check(stem, build, force, repo)) for stem in stems]  # all checks before any change
    for stem, root, executed, record, topics in checked:
        for topic in topics:
            prefix = f"figures/{topic}/"
            keep = [r[len(prefix):] for r in record.get("reads", {}) if r.startswith(prefix)]
            swap_folder(root / "figures" / topic, figures / topic, keep)
        with atomic_output(repo / "notebooks" / f"{stem}.ipynb") as tmp:
            shutil.copyfile(executed, tmp)
        print(f"published {stem} ({run_record.describe(record)}): notebooks/{stem}.ipynb, "
              + ", ".join(f"figures/{t}/" for t in topics))
    if not table:
        return
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "results_table.py"), "--write"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        refuse(f"rewriting the results table of docs/results.md: {proc.stderr.strip().splitlines()[-1:]}")
    print("docs/results.md: results table rewritten from figures/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stems", nargs="+", help="notebook stems (bundle.toml)")
    parser.add_argument("--build", type=Path, default=REPO / "build")
    parser.add_argument("--force", action="store_true", help="replace a run of a higher profile")
    args = parser.parse_args()
    faults.stop_signals()
    try:
        publish([s.removesuffix(".ipynb").removeprefix("notebooks/") for s in args.stems], args.build.resolve(),
                args.force)
    except faults.Stopped as stop:
        faults.report_stop(faults.stop_text(stop.signum, f"publishing {' '.join(args.stems)}"))
        raise SystemExit(128 + stop.signum) from None
    except OSError as err:
        refuse(f"copying the run of {' '.join(args.stems)} into figures/ and notebooks/: "
               f"{faults.os_error_text(err, REPO)}")


if __name__ == "__main__":
    main()
