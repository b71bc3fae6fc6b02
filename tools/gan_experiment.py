"""The GAN notebook's own code, run outside the notebook at one of its budgets.

Shared by tools/gan_recipe_search.py and tools/gan_seeds.py. It executes the
notebook's cells tagged "library" (networks, classifier, metrics, train_gan,
the recipes) and "budget" (the profile's sizes), then sets up the FashionMNIST
GAN exactly as the notebook does for a given HW_SEED: the same classifier (and
its cache in build/cache/gan/), the same reference images, the same derived
seeds for each GAN and its samples. A recipe trained here gets the FIDs the
notebook would print for it (at the same thread count).
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import time
import types
from contextlib import contextmanager
from pathlib import Path

import nbformat
import torch

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "gan_fashion_mnist.ipynb"
sys.path.insert(0, str(REPO / "notebooks"))
os.environ.setdefault("HW_DATA_DIR", str(REPO / "data"))
os.environ.setdefault("HW_UNATTENDED", "1")  # progress bars: one final line each
import hwcommon as hw  # noqa: E402


def notebook_code(profile: str, seed: int, root: Path | None = None) -> dict:
    """The notebook's library and budget cells executed for `profile` and `seed`, with `run`."""
    module = types.ModuleType("gan_notebook")  # @dataclass looks its module up in sys.modules
    sys.modules[module.__name__] = module
    ns = module.__dict__
    root = Path(root or os.environ.get("HW_ROOT") or REPO).resolve()
    run = hw.Run(topic="gan", profile=profile, device=torch.device("cpu"), seed=seed, root=root)
    ns["run"] = run
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for tag in ("library", "budget"):
        for cell in nb.cells:
            if cell.cell_type == "code" and tag in cell.metadata.get("tags", []):
                exec(compile(cell.source, f"{NOTEBOOK.name}:{tag}", "exec"), ns)
    return ns


class FashionSetup:
    """Data, classifier and scorer of the notebook's FashionMNIST part for one seed."""

    def __init__(self, seed: int, profile: str = "quick"):
        self.nb = nb = notebook_code(profile, seed)
        run, self.seed = nb["run"], seed
        fashion = hw.fashion_mnist(run.data_dir)
        subset = nb["train_subset"]
        self.train_uint8 = fashion.train_images[:subset] if subset else fashion.train_images
        train_labels = fashion.train_labels[:subset] if subset else fashion.train_labels
        self.train = nb["to_device_images"](self.train_uint8, run.device)
        classifier, how = nb["load_or_train_classifier"](
            run.cache_dir, "fashion_mnist", self.train, train_labels.to(run.device), nb["classifier_updates"],
            run.seed_for("classifier", "fashion_mnist"))
        print(f"seed {seed}: FashionMNIST classifier {how}", flush=True)
        n_eval = nb["n_eval"]
        self.scorer = nb["Scorer"](classifier, nb["reference_sample"](self.train_uint8, n_eval, run.seed_for("reference", "fashion_mnist")),
                                   seed=run.seed_for("scorer", "fashion_mnist"), kid_subset_size=min(1000, n_eval // 2),
                                   n_pr=nb["n_pr"])

    def fid_by_epoch(self, G) -> float:
        nb = self.nb
        return self.scorer.fid_only(nb["generate"](G, nb["n_epoch_eval"], seed=nb["run"].seed_for("samples", "fid-by-epoch")))

    def train_and_score(self, recipe, updates: int | None = None) -> dict:
        """Train `recipe` as the notebook trains its FashionMNIST GANs (for the notebook's number of
        updates unless `updates` says otherwise); its FID against updates (n_epoch_eval samples)
        and final FID (n_eval samples)."""
        nb, run = self.nb, self.nb["run"]
        started = time.perf_counter()
        result = nb["train_gan"](recipe, self.train, updates or nb["gan_updates"], seed=run.seed_for("gan", "fashion_mnist"),
                                 evaluate=self.fid_by_epoch, eval_every=nb["eval_every"], desc=f"{recipe.name} seed {self.seed}")
        samples = nb["generate"](result["G"], nb["n_eval"], seed=run.seed_for("samples", "fashion_mnist"))
        history = result["history"]
        return {"fid": round(self.scorer.fid_only(samples), 3),
                "fid_by_epoch": [round(v, 3) for v in history["fid"]],
                "eval_updates": history["eval_updates"],
                "train_seconds": round(history["train_seconds"], 1),
                "wall_seconds": round(time.perf_counter() - started, 1)}


@contextmanager
def locked_json(path: Path, empty: dict):
    """Read-modify-write a JSON file under an exclusive lock (several runs may share it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else empty
        yield data
        hw.atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def set_threads() -> int:
    threads = int(os.environ.get("HW_THREADS") or 0) or (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    return threads
