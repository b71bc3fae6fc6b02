"""Run each notebook as a Colab user would: alone, in a fresh environment.

    python tools/checks/colab_check.py                      # make colab-check
    python tools/checks/colab_check.py --transformers 5.23.0 --only transformer_sentiment --mode loopback

1. A fresh venv (build/colab-check/venv) with what Colab preinstalls, and
   nothing of this project: torch, torchvision, transformers (default: the
   oldest version the sentiment notebook supports), numpy, scipy, matplotlib,
   pandas, tqdm, scikit-learn, plus the Jupyter kernel machinery. No
   torchmetrics, no data wheels: a notebook installs what it needs itself
   (hw.require in its first cells). torch and torchvision (pinned in
   requirements.txt) and their CUDA libraries are linked from this venv's
   files on disk rather than downloaded again; pip installs the rest.
2. Each notebook is copied alone into an empty folder and executed there in
   the smoke profile, twice:
   - offline: HW_OFFLINE=1 (FashionMNIST then comes from the Debian package
     when this machine has it: the one offline source of the full set);
   - loopback: the homework's data (HW_HOMEWORK_DATA=1) from format-true
     stand-ins served on 127.0.0.1 (the servers of tests/test_downloads.py):
     FashionMNIST and MNIST IDX files, the aclImdb tarball, a Hugging Face
     repository for bert-base-uncased; the Debian copy is hidden.
3. One line per run (passed or FAILED, seconds, the data-source lines it
   printed); exit status 1 when any run failed. Outputs stay under
   build/colab-check/runs/ for inspection.

Slow (it installs torch into a new venv the first time): not part of
`make test`. The venv is reused when its package list is unchanged.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import manifest  # noqa: E402

NOTEBOOKS = tuple(nb.stem for nb in manifest.load().graded)  # bundle.toml's graded notebooks
OLDEST_TRANSFORMERS = "4.46.3"  # the oldest the sentiment notebook supports (docs/colab.md, versions tested)


def pins() -> dict:
    """The project's pins from requirements.txt (name -> 'name==version')."""
    found = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            found[line.split("==")[0].strip().lower()] = line
    return found


LINKED = ("torch", "torchvision", "triton")  # plus nvidia-* and cuda-*: the GPU build's libraries
LINKED_PREFIXES = ("nvidia-", "nvidia_", "cuda-", "cuda_")


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def linked_distributions() -> list:
    """torch, torchvision and their CUDA libraries as installed in this (the
    project's) environment: linked into the check's venv from disk, not
    downloaded again (they are most of its 6 GB)."""
    from importlib import metadata
    return [d for d in metadata.distributions()
            if _normal(d.metadata["Name"]) in LINKED or _normal(d.metadata["Name"]).startswith(LINKED_PREFIXES)]


def colab_packages(transformers: str, linked: list) -> list:
    """What pip installs: Colab's preinstalled set minus the linked torch stack,
    plus what that stack itself requires."""
    import re
    pinned = pins()
    names = {_normal(d.metadata["Name"]) for d in linked}
    wanted = [pinned.get(name, name) for name in ("numpy", "scipy", "matplotlib", "tqdm")]
    wanted += [f"transformers=={transformers}", "pandas", "scikit-learn", "ipykernel", "nbclient", "nbformat"]
    for dist in linked:
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            name = _normal(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
            have = {_normal(re.split(r"[ ;<>=!~\[(]", w, maxsplit=1)[0]) for w in wanted}
            if name not in names and not name.startswith(LINKED_PREFIXES) and name not in have:
                wanted.append(requirement.split(";")[0].strip().replace(" (", "").rstrip(")"))
    return wanted


def build_venv(venv: Path, transformers: str) -> Path:
    import site
    python = venv / "bin" / "python"
    linked = linked_distributions()
    versions = {_normal(d.metadata["Name"]): d.version for d in linked}
    if versions.get("torch", "").split("+")[0] != pins()["torch"].split("==")[1]:
        raise SystemExit(f"colab-check: needs torch {pins()['torch']} in {sys.prefix}; found {versions.get('torch')}")
    packages = colab_packages(transformers, linked)
    stamp = venv / ".colab-check.json"
    wanted = {"linked": versions, "packages": packages}
    if python.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted \
            and (venv / ".colab-check-freeze.json").exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    target = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    source = Path(site.getsitepackages()[0])
    for dist in linked:
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            if (source / top).exists() and not (target / top).exists():
                (target / top).symlink_to(source / top)
    print(f"colab-check: linked {', '.join(f'{n} {v}' for n, v in sorted(versions.items()) if not n.startswith(LINKED_PREFIXES))}"
          f" and {sum(n.startswith(LINKED_PREFIXES) for n in versions)} CUDA library packages from {source}; "
          f"installing {' '.join(packages)}", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages], check=True)
    stamp.write_text(json.dumps(wanted))
    (venv / ".colab-check-freeze.json").write_text(json.dumps(sorted(installed(python))))
    return python


def installed(python: Path) -> set:
    """The distribution names installed in the venv of `python`."""
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True).stdout
    return {_normal(row["name"]) for row in json.loads(out)}


def restore(python: Path, venv: Path) -> None:
    """Uninstall what a notebook's hw.require added, so the next run starts from Colab's set again."""
    baseline = set(json.loads((venv / ".colab-check-freeze.json").read_text()))
    extra = sorted(installed(python) - baseline)
    if extra:
        subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "-q", *extra], check=True)


EXECUTE = """
import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
client = nbclient.NotebookClient(nb, timeout=int(sys.argv[3]), kernel_name="python3",
                                 resources={"metadata": {"path": sys.argv[4]}})
try:
    client.execute()
finally:
    nbformat.write(nb, sys.argv[2])
"""


def outputs_text(path: Path) -> str:
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return ""
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


def run_notebook(python: Path, stem: str, folder: Path, env: dict, timeout: int) -> tuple:
    """(passed, seconds, data-source lines, error tail) of one run alone in `folder`."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / f"{stem}.ipynb", folder)
    started = time.perf_counter()
    proc = subprocess.run([str(python), "-c", EXECUTE, f"{stem}.ipynb", "executed.ipynb", str(timeout), str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=timeout + 120)
    seconds = time.perf_counter() - started
    text = outputs_text(folder / "executed.ipynb")
    sources = [line for line in text.splitlines()
               if "source:" in line or line.startswith(("encoder:", "installing ", "IMDb unpacked"))]
    return proc.returncode == 0, seconds, sources, (proc.stderr or proc.stdout)[-2000:]


def base_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HW_", "HF_", "TRANSFORMERS_", "PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               HW_PROFILE="smoke", HW_THREADS="1", HW_UNATTENDED="1",
               no_proxy="127.0.0.1", NO_PROXY="127.0.0.1")  # the stand-ins are reached directly
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transformers", default=OLDEST_TRANSFORMERS, help="transformers version in the venv")
    parser.add_argument("--venv", type=Path, default=REPO / "build" / "colab-check" / "venv")
    parser.add_argument("--only", choices=NOTEBOOKS, action="append", help="run only this notebook (repeatable)")
    parser.add_argument("--mode", choices=("offline", "loopback"), action="append", help="offline, loopback or both")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per notebook run")
    args = parser.parse_args()

    venv = args.venv.resolve()
    python = build_venv(venv, args.transformers)
    runs = venv.parent / "runs"
    modes = args.mode or ["offline", "loopback"]
    failed = 0

    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO / "notebooks"))
    import test_downloads as stand_ins  # the loopback servers and stand-ins of the test suite

    for mode in modes:
        env = base_env(venv)
        env.update(HF_HOME=str(runs / mode / "hf-home"))
        shutil.rmtree(runs / mode / "hf-home", ignore_errors=True)
        if mode == "offline":
            env.update(HW_OFFLINE="1", HF_HUB_OFFLINE="1")
            server = None
        else:
            files = {**stand_ins.serve_idx(stand_ins.idx_files(), "fashion"),
                     **stand_ins.serve_idx(stand_ins.idx_files(), "mnist"),
                     "/aclImdb_v1.tar.gz": stand_ins.imdb_tarball(12500)}
            bert = runs / mode / "bert-stand-in"
            shutil.rmtree(bert, ignore_errors=True)
            bert.mkdir(parents=True)
            files.update(stand_ins.bert_repo(bert))
            server = stand_ins.StandIn(files, hub=True).__enter__()
            env.update(HW_HOMEWORK_DATA="1", HW_FASHION_MNIST_DEBIAN=str(runs / "no-debian"),
                       HW_FASHION_MNIST_MIRROR=f"{server.url}/fashion/", HW_MNIST_MIRROR=f"{server.url}/mnist/",
                       HW_IMDB_URL=f"{server.url}/aclImdb_v1.tar.gz", HF_ENDPOINT=server.url)
        try:
            for stem in args.only or NOTEBOOKS:
                restore(python, venv)
                passed, seconds, sources, tail = run_notebook(python, stem, runs / mode / stem, env, args.timeout)
                failed += not passed
                print(f"colab-check {mode:8} {stem:22} {'passed' if passed else 'FAILED'} in {seconds:.0f} s"
                      + "".join(f"\n    {line}" for line in sources), flush=True)
                if not passed:
                    print("    " + "\n    ".join(tail.strip().splitlines()[-15:]), flush=True)
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    print(f"colab-check: {'all runs passed' if not failed else f'{failed} run(s) FAILED'} "
          f"(transformers {args.transformers}; outputs in {runs})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
