"""What produced an executed notebook, and whether a run still matches its inputs.

Standard library only: the Makefile calls it while it reads itself
(`make -q pdf` must answer right), before the virtual environment exists.

Every executed notebook carries `metadata.hw_run`, written by
tools/run_notebook.py:

    inputs   hash of everything the outputs depend on: the code cells (the
             embedded hwcommon and graded-library cells included), the files
             the notebook declares in metadata.hw.reads, and the seed
    code, reads, seed   the parts of that hash (to say what changed)
    source   hash of every cell's source, markdown included (a run in build/
             is reused only for the very notebook it was run from)
    profile, device, threads, date, commit   which run it is (the PDF shows all but the commit)
    topics   the figures/<topic>/ folders the run wrote

    python3 tools/run_record.py stamps --build build --profile quick --seed 0 [--fresh 1] STEM...
        writes build/stamps/<stem>.want (only when its content changes), the
        file make compares: what the PDF of <stem> has to show
    python3 tools/run_record.py summary --build build --profile quick ... STEM...
        one line: which notebooks a `make pdf` executes, and why
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faults  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
PROFILE_RANK = {"smoke": 0, "quick": 1, "full": 2}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def read_notebook(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SystemExit(f"FAILED: reading {path}: {err}") from None


def declared_reads(nb: dict) -> list:
    reads = nb.get("metadata", {}).get("hw", {}).get("reads", [])
    if not isinstance(reads, list) or not all(isinstance(r, str) for r in reads):
        raise SystemExit("FAILED: metadata.hw.reads must be a list of repository-relative paths; "
                         f"got {reads!r}")
    return sorted(reads)


def normal_seed(seed) -> str:
    raw = str(seed if seed is not None else "").strip()
    return str(int(raw)) if raw.lstrip("-").isdigit() else (raw or "0")


def current_inputs(nb: dict, seed, repo: Path = REPO) -> dict:
    """The hashes a run of nb with this seed would record."""
    code = _sha(json.dumps([_source(c) for c in nb.get("cells", []) if c.get("cell_type") == "code"]).encode())
    reads = {}
    for rel in declared_reads(nb):
        path = repo / rel
        reads[rel] = _sha(path.read_bytes()) if path.is_file() else None
    seed = normal_seed(seed)
    inputs = _sha(json.dumps({"code": code, "reads": reads, "seed": seed}, sort_keys=True).encode())
    source = _sha(json.dumps([[c.get("cell_type"), _source(c)] for c in nb.get("cells", [])]).encode())
    return {"inputs": inputs, "code": code, "reads": reads, "seed": seed, "source": source}


def record_of(nb: dict) -> dict | None:
    record = nb.get("metadata", {}).get("hw_run")
    return record if isinstance(record, dict) and record.get("inputs") else None


def differences(record: dict | None, current: dict) -> str:
    """Why `record` does not match `current` ('' when it does)."""
    if record is None:
        return "no run recorded in it"
    if record.get("inputs") == current["inputs"]:
        return ""
    why = []
    if record.get("code") != current["code"]:
        why.append("its code cells changed")
    old = record.get("reads", {}) or {}
    changed = sorted(p for p in set(old) | set(current["reads"]) if old.get(p, "?") != current["reads"].get(p, "?"))
    why += [f"{p} changed" for p in changed]
    if normal_seed(record.get("seed")) != current["seed"]:
        why.append(f"HW_SEED={current['seed']}, the recorded run used {record.get('seed')}")
    return ", ".join(why) or "its inputs changed"


def describe(record: dict, commit: bool = True) -> str:
    """'full profile, cpu (2 threads), 2026-12-01 11:30 UTC, commit 4be0e85' (the logs);
    without the commit for the PDF's run stamp (the commit stays in metadata.hw_run)."""
    device = record.get("device") or "unknown device"
    if record.get("threads") and device == "cpu":
        device += f" ({record['threads']} thread{'s' if record['threads'] != 1 else ''})"
    text = f"{record.get('profile', '?')} profile, {device}, {record.get('date', 'date unknown')}"
    return text + f", commit {record.get('commit') or 'unknown'}" if commit else text


def truthy(value) -> bool:
    return str(value or "").strip().lower() in ("1", "yes", "true", "on")


def plan(stem: str, profile: str, seed, fresh: bool, repo: Path = REPO) -> dict:
    """What `make pdf` shows for notebook `stem`: its committed run as it is
    ('committed'), or a run made from it at `profile` ('run'), and why."""
    source = repo / "notebooks" / f"{stem}.ipynb"
    nb = read_notebook(source)
    current = current_inputs(nb, seed, repo)
    record = record_of(nb)
    why = "FRESH=1 asks for a fresh run" if fresh else differences(record, current)
    if not why:
        return {"stem": stem, "kind": "committed", "current": current, "record": record, "why": ""}
    return {"stem": stem, "kind": "run", "current": current, "record": record, "why": why,
            "profile": profile, "fresh": fresh}


def stamp_text(p: dict) -> str:
    c = p["current"]
    if p["kind"] == "committed":
        return f"committed {c['inputs']}\n"
    return f"run {c['inputs']} {c['source']} {p['profile']} fresh={int(p['fresh'])}\n"


def write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def usable_run(record: dict | None, p: dict) -> bool:
    """A run in build/ that can stand for plan p: made from this very notebook
    and inputs, at the asked profile (FRESH) or at least that good."""
    if record is None or p["kind"] != "run":
        return False
    c = p["current"]
    if record.get("inputs") != c["inputs"] or record.get("source") != c["source"]:
        return False
    rank = PROFILE_RANK.get(record.get("profile"), -1)
    wanted = PROFILE_RANK[p["profile"]]
    return rank == wanted if p["fresh"] else rank >= wanted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["stamps", "summary"])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--profile", required=True, choices=sorted(PROFILE_RANK))
    parser.add_argument("--seed", default="")
    parser.add_argument("--fresh", default="")
    parser.add_argument("stems", nargs="*")
    args = parser.parse_intermixed_args()
    plans = [plan(stem, args.profile, args.seed, truthy(args.fresh)) for stem in args.stems]
    if args.what == "stamps":
        for p in plans:
            path = args.build / "stamps" / f"{p['stem']}.want"
            try:
                write_if_changed(path, stamp_text(p))
            except OSError as err:
                raise SystemExit(f"FAILED: writing {path}, what make compares: "
                                 f"{faults.os_error_text(err, args.build)}") from None
        print("ok")
        return
    runs = [p for p in plans if p["kind"] == "run"]
    if not runs:
        print(f"notebooks: all {len(plans)} shown from their committed runs (their inputs are unchanged)")
        return
    detail = "; ".join(f"{p['stem']} ({p['why']})" for p in runs)
    print(f"notebooks: {len(runs)} of {len(plans)} need a run at {args.profile} unless build/ has one: {detail}")


if __name__ == "__main__":
    faults.stop_signals()
    try:
        sys.exit(main())
    except faults.Stopped as stop:
        faults.report_stop(faults.stop_text(stop.signum, "planning which notebooks run"))
        sys.exit(128 + stop.signum)
