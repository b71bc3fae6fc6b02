"""Run each notebook as a Colab user would: alone, in a fresh environment.

    python tools/checks/colab_check.py                      # make colab-check: every stack of STACKS
    python tools/checks/colab_check.py --stack colab --only transformer_sentiment --mode offline
    python tools/checks/colab_check.py --stack oldest --transformers 5.23.0 --mode loopback

1. For each stack of STACKS (below: the one place that names the versions
   tested; docs/colab.md points here), a fresh venv
   (build/colab-check/<stack>/venv) with what Colab preinstalls, and nothing
   of this project: torch, torchvision, transformers, numpy, scipy,
   matplotlib, pandas, tqdm, scikit-learn, plus the Jupyter kernel machinery.
   No torchmetrics, no data wheels: a notebook installs what it needs itself
   (hw.require in its first cells).
   - colab: Colab's published versions, installed by pip from PyPI (torch's
     CUDA libraries included: several GB the first time, then pip's cache);
   - oldest: this project's torch and torchvision (pinned in
     requirements.txt), linked with their CUDA libraries from this venv's
     files on disk rather than downloaded again, and the oldest transformers
     the sentiment notebook supports.
   The Python is this machine's (Colab's own may be newer).
2. Each notebook is copied alone into an empty folder and executed there in
   the smoke profile, twice:
   - offline: HW_OFFLINE=1 (FashionMNIST then comes from the Debian package
     when this machine has it: the one offline source of the full set);
   - loopback: the homework's data (HW_HOMEWORK_DATA=1) from format-true
     stand-ins served on 127.0.0.1 (the servers of tests/test_downloads.py):
     FashionMNIST and MNIST IDX files, the aclImdb tarball, a Hugging Face
     repository for bert-base-uncased; the Debian copy is hidden.
3. One line per run (stack, mode, passed or FAILED, seconds, the data-source
   lines it printed), and per stack the versions its venv really holds; exit
   status 1 when any run failed. Outputs stay under
   build/colab-check/<stack>/runs/ for inspection.

Slow (it installs torch into new venvs the first time): not part of
`make test`. A venv is reused while its package list is unchanged.
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

# The stacks each notebook is run on: the versions tested (docs/colab.md names this table).
# When Colab moves: read `pip list` in a fresh Colab runtime, write its torch, torchvision,
# transformers and numpy into "colab" with the date, and run `make colab-check`.
# A version left out (None) is this project's: torch and torchvision linked from requirements.txt's
# pins, the other packages as pip resolves them.
STACKS = {
    "colab": {"about": "Colab's preinstalled versions (snapshot of Aug 2026)",
              "torch": "2.11.0", "torchvision": "0.26.0", "transformers": "5.15.0", "numpy": "2.1.3"},
    "oldest": {"about": "this project's torch with the oldest transformers the sentiment notebook supports",
               "torch": None, "torchvision": None, "transformers": "4.46.3", "numpy": None},
}
OLDEST_TRANSFORMERS = STACKS["oldest"]["transformers"]


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


def colab_packages(stack: dict, linked: list) -> list:
    """What pip installs: Colab's preinstalled set (the stack's versions where it
    names them) minus the linked torch stack, plus what that stack itself requires."""
    import re
    pinned = {} if stack["torch"] else pins()  # a stack of its own: pip resolves what it does not name
    names = {_normal(d.metadata["Name"]) for d in linked}
    wanted = [f"{name}=={stack[name]}" for name in ("torch", "torchvision") if stack.get(name)]
    wanted += [f"numpy=={stack['numpy']}" if stack.get("numpy") else pinned.get("numpy", "numpy")]
    wanted += [pinned.get(name, name) for name in ("scipy", "matplotlib", "tqdm")]
    wanted += [f"transformers=={stack['transformers']}", "pandas", "scikit-learn", "ipykernel", "nbclient",
               "nbformat"]
    for dist in linked:
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            name = _normal(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
            have = {_normal(re.split(r"[ ;<>=!~\[(]", w, maxsplit=1)[0]) for w in wanted}
            if name not in names and not name.startswith(LINKED_PREFIXES) and name not in have:
                wanted.append(requirement.split(";")[0].strip().replace(" (", "").rstrip(")"))
    return wanted


def build_venv(venv: Path, stack: dict) -> Path:
    import site
    python = venv / "bin" / "python"
    linked = [] if stack["torch"] else linked_distributions()
    versions = {_normal(d.metadata["Name"]): d.version for d in linked}
    if not stack["torch"] and versions.get("torch", "").split("+")[0] != pins()["torch"].split("==")[1]:
        raise SystemExit(f"colab-check: needs torch {pins()['torch']} in {sys.prefix}; found {versions.get('torch')}")
    packages = colab_packages(stack, linked)
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
    if linked:
        print(f"colab-check: linked {', '.join(f'{n} {v}' for n, v in sorted(versions.items()) if not n.startswith(LINKED_PREFIXES))}"
              f" and {sum(n.startswith(LINKED_PREFIXES) for n in versions)} CUDA library packages from {source}",
              flush=True)
    print(f"colab-check: installing into {venv}: {' '.join(packages)}", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages], check=True)
    stamp.write_text(json.dumps(wanted))
    (venv / ".colab-check-freeze.json").write_text(json.dumps(sorted(installed(python))))
    return python


VERSIONS = ("import sys, numpy, torch, torchvision, transformers; print(f'python {sys.version.split()[0]}, torch "
            "{torch.__version__}, torchvision {torchvision.__version__}, transformers {transformers.__version__}, "
            "numpy {numpy.__version__}')")


def versions_in(python: Path) -> str:
    """What the venv really holds: 'python 3.11.7, torch 2.11.0+cu130, ...'."""
    proc = subprocess.run([str(python), "-c", VERSIONS], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else f"(cannot import the stack: {proc.stderr.strip()[-300:]})"


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


def run_stack(name: str, stack: dict, args, stand_ins) -> tuple:
    """Every asked run of every asked notebook on one stack: (runs, failed)."""
    root = args.root / name
    python = build_venv(root / "venv", stack)
    venv, runs = root / "venv", root / "runs"
    print(f"colab-check {name}: {stack['about']}: {versions_in(python)}", flush=True)
    if args.setup_only:
        return 0, 0
    done = failed = 0
    for mode in args.mode or ["offline", "loopback"]:
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
                done += 1
                failed += not passed
                print(f"colab-check {name:6} {mode:8} {stem:22} {'passed' if passed else 'FAILED'} in {seconds:.0f} s"
                      + "".join(f"\n    {line}" for line in sources), flush=True)
                if not passed:
                    print("    " + "\n    ".join(tail.strip().splitlines()[-15:]), flush=True)
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    return done, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stack", choices=list(STACKS), action="append",
                        help="run on this stack of STACKS only (repeatable; default: every stack)")
    parser.add_argument("--transformers", help="another transformers version for the chosen stacks")
    parser.add_argument("--root", type=Path, default=REPO / "build" / "colab-check",
                        help="folder of the stacks' venvs and runs")
    parser.add_argument("--only", choices=NOTEBOOKS, action="append", help="run only this notebook (repeatable)")
    parser.add_argument("--mode", choices=("offline", "loopback"), action="append", help="offline, loopback or both")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per notebook run")
    parser.add_argument("--setup-only", action="store_true", help="build the venvs and print their versions")
    args = parser.parse_args()
    args.root = args.root.resolve()

    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO / "notebooks"))
    import test_downloads as stand_ins  # the loopback servers and stand-ins of the test suite

    summary, failed = [], 0
    for name in args.stack or list(STACKS):
        stack = dict(STACKS[name], **({"transformers": args.transformers} if args.transformers else {}))
        started = time.perf_counter()
        runs, bad = run_stack(name, stack, args, stand_ins)
        failed += bad
        summary.append(f"{name}: {runs} run(s), {bad or 'none'} failed, {time.perf_counter() - started:.0f} s")
    print(f"colab-check: {'all runs passed' if not failed else f'{failed} run(s) FAILED'} ({'; '.join(summary)}; "
          f"outputs in {args.root}/<stack>/runs)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
