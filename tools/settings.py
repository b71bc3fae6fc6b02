"""Every setting checked before any work starts: one line per bad setting,
naming the variable, its value and what it accepts, and no kernel started.

    make check-settings [PROFILE=... FRESH=... FORCE=... TIMEOUT=... NB=...]
        (`make pdf`, `make run`, `make publish` and `make notebooks` run it first)
    .venv/bin/python tools/settings.py
        the HW_* variables of this environment (make passes its own variables
        as MAKEVAR_<name>, and its goals as MAKEVAR_GOALS)

Each rule lives in one place; this file applies it:
- the environment variables the notebooks read (the docstring at the top of
  notebooks/hwcommon.py): HW_PROFILE, HW_SEED, HW_THREADS, HW_OFFLINE,
  HW_HOMEWORK_DATA, HW_DEVICE, by the notebooks' own functions
  (notebook_rules, the one function that calls into hwcommon);
- make's variables: PROFILE by the rule of HW_PROFILE, FRESH and FORCE by the
  notebooks' yes/no rule (that of HW_OFFLINE), TIMEOUT by the runner's
  (tools/run_notebook.py, seconds_per_cell), NB against bundle.toml's stems
  (tools/manifest.py); `make run` and `make publish` need NB.
HW_SEED is both: a make variable (an input of every run record) and the
notebooks' seed. Paths (HW_ROOT, HW_DATA_DIR, BUILD) and download addresses
are not checked here: the step that uses one names it when it fails.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
REPO = TOOLS.parent
sys.path.insert(0, str(TOOLS))
import faults  # noqa: E402

# the environment variables the notebooks read and check (notebooks/hwcommon.py)
NOTEBOOK_VARIABLES = ("HW_PROFILE", "HW_SEED", "HW_THREADS", "HW_OFFLINE", "HW_HOMEWORK_DATA", "HW_DEVICE")
# make's variables checked by a notebook rule: variable -> the notebook variable whose rule it follows
MAKE_LIKE_NOTEBOOK = {"PROFILE": "HW_PROFILE", "FRESH": "HW_OFFLINE", "FORCE": "HW_OFFLINE"}


@contextlib.contextmanager
def _environment(name: str, value: str):
    """os.environ[name] = value for the time of one rule (the rules read the environment)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def notebook_rules(values: dict) -> list:
    """The faults of `values` ({variable: text}) under the notebooks' own rules, one
    message each, by hwcommon's SETTINGS (the rules hw.start() reads them by); a
    make variable follows the rule of the notebook variable MAKE_LIKE_NOTEBOOK names."""
    sys.path.insert(0, str(REPO / "notebooks"))
    import hwcommon as hw
    rules = hw.SETTINGS  # the rules hw.start() reads each setting by
    faults_found = []
    for name, value in values.items():
        like = MAKE_LIKE_NOTEBOOK.get(name, name)
        with _environment(like, value):
            try:
                rules[like]()
            except hw.ConfigError as err:
                message = str(err)
                faults_found.append(name + message[len(like):] if message.startswith(like) else message)
    return faults_found


def make_rules(make: dict, goals: list) -> list:
    """The faults of make's own variables that no notebook rule covers: TIMEOUT and NB."""
    import manifest
    found = []
    if make.get("TIMEOUT", "").strip():
        import run_notebook
        try:
            run_notebook.seconds_per_cell(make["TIMEOUT"])
        except ValueError as err:
            found.append(f"TIMEOUT {err}")
    stems = manifest.load(REPO / "bundle.toml").stems
    needs = [g for g in goals if g in ("run", "publish")]
    given = make.get("NB", "").split()
    if needs and not given:
        found.append(f"name the notebook: NB=<stem>, with a stem of: {' '.join(stems)}")
    for stem in given:
        if normal_stem(stem) not in stems:
            found.append(f"NB={stem}: bundle.toml has no such notebook; NB takes these stems "
                         f"(space-separated): {' '.join(stems)}")
    return found


def normal_stem(name: str) -> str:
    """'notebooks/x.ipynb' -> 'x', as make run and make publish read NB."""
    return name.removesuffix(".ipynb").removeprefix("notebooks/")


def check(environ=os.environ) -> list:
    """Every fault, one message each: the notebooks' variables, then make's."""
    make = {name[len("MAKEVAR_"):]: value for name, value in environ.items() if name.startswith("MAKEVAR_")}
    goals = make.pop("GOALS", "").split()
    values = {name: environ.get(name, "") for name in NOTEBOOK_VARIABLES}
    values.update({name: make[name] for name in MAKE_LIKE_NOTEBOOK if name in make})
    return notebook_rules(values) + make_rules(make, goals)


def main() -> int:
    goals = os.environ.get("MAKEVAR_GOALS", "").split()
    who = f"make {' '.join(goals)}" if goals else "settings"
    faults.stop_signals()
    try:
        found = check()
    except faults.Stopped as stop:
        faults.report_stop(faults.stop_text(stop.signum, "checking the settings"))
        return 128 + stop.signum
    except SystemExit as err:  # bundle.toml's reader: one line already
        print(err.code, file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - one line, not a traceback
        print(f"FAILED: {who}: cannot check the settings ({type(err).__name__}: {err})", file=sys.stderr)
        return 2
    for message in found:
        print(f"FAILED: {who}: {message}", file=sys.stderr)
    return 2 if found else 0


if __name__ == "__main__":
    sys.exit(main())
