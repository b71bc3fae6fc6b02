"""The GAN notebook's own code, run outside the notebook at one of its budgets.

Shared by tools/bench/gan_recipe_search.py, tools/bench/gan_seeds.py and tools/bench/gan_full_budget.py.
It executes the notebook's cells tagged "library" (networks, classifier, metrics, train_gan,
the recipes) and "budget" (the profile's sizes), then sets up the FashionMNIST
GAN exactly as the notebook does for a given HW_SEED: the same classifier (and
its cache in build/cache/gan/), the same reference images, the same derived
seeds for each GAN and its samples. A recipe trained here gets the FIDs the
notebook would print for it (at the same thread count).
"""
from __future__ import annotations

import collections
import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "notebooks"))
sys.path.insert(0, str(REPO / "tools"))
import notebook_code as notebook_code_loader  # noqa: E402
os.environ.setdefault("HW_DATA_DIR", str(REPO / "data"))
os.environ.setdefault("HW_UNATTENDED", "1")  # progress bars: one final line each
import hwcommon as hw  # noqa: E402


def notebook_code(profile: str, seed: int, root: Path | None = None) -> dict:
    """The notebook's library and budget cells executed for `profile` and `seed`, with `run`, over hwcommon's names
    (through tools/notebook_code.py, the one loader of notebook code)."""
    root = Path(root or os.environ.get("HW_ROOT") or REPO).resolve()
    run = hw.Run(topic="gan", profile=profile, device=torch.device("cpu"), seed=seed, root=root)
    # the notebook's names first, then hwcommon's, where its hidden measures (Scorer, ...) live
    return collections.ChainMap(notebook_code_loader.load("gan_fashion_mnist", tags=("library", "budget"), run=run), vars(hw))


class FashionSetup:
    """Data, classifier and scorer of the notebook's FashionMNIST part for one seed."""

    def __init__(self, seed: int, profile: str = "quick", n_inception: int = 0):
        """n_inception > 0 also scores each GAN's first n_inception samples with the standard Inception
        FID and KID against as many real training images, drawn and seeded as the notebook draws them."""
        self.nb = nb = notebook_code(profile, seed)
        run, self.seed = nb["run"], seed
        fashion = hw.fashion_mnist(run.data_dir)
        subset = nb["train_subset"]
        self.train_uint8 = fashion.train_images[:subset] if subset else fashion.train_images
        train_labels = fashion.train_labels[:subset] if subset else fashion.train_labels
        self.train = nb["uint8_to_input"](run.to_device(self.train_uint8))
        classifier, how = nb["load_or_train_classifier"](
            run.cache_dir, "fashion_mnist", self.train, run.to_device(train_labels), nb["classifier_updates"],
            run.seed_for("classifier", "fashion_mnist"))
        print(f"seed {seed}: FashionMNIST classifier {how}", flush=True)
        n_eval = nb["n_eval"]
        self.scorer = nb["Scorer"](classifier, nb["reference_sample"](self.train_uint8, n_eval, run.seed_for("reference", "fashion_mnist")),
                                   seed=run.seed_for("scorer", "fashion_mnist"), kid_subset_size=min(1000, n_eval // 2),
                                   n_pr=nb["n_pr"])
        self.n_inception, self.inception = n_inception, None
        if n_inception:
            reference = nb["reference_sample"](self.train_uint8, n_inception, seed=run.seed_for("reference", "fashion_mnist"))
            self.inception = nb["InceptionScorer"](hw.inception_v3_fid(run.data_dir, run.device), reference,
                                                   seed=run.seed_for("inception", "fashion_mnist"))

    def checkpoint_fid(self, state) -> float:
        """FID of a kept generator checkpoint, as the notebook's FID-against-epoch curve computes it."""
        nb = self.nb
        G = nb["run"].to_device(nb["Generator"]())
        G.load_state_dict(state)
        return self.scorer.fid_only(nb["generate"](G, nb["n_epoch_eval"], seed=nb["run"].seed_for("samples", "fid-by-epoch")))

    def train_and_score(self, recipe, updates: int | None = None) -> dict:
        """Train `recipe` as the notebook trains its FashionMNIST GANs (for the notebook's number of
        updates unless `updates` says otherwise); its FID against updates (n_epoch_eval samples)
        and final FID (n_eval samples), with the Inception FID and KID when the setup has them."""
        nb, run = self.nb, self.nb["run"]
        started = time.perf_counter()
        result = nb["train_gan"](recipe, self.train, updates or nb["gan_updates"], seed=run.seed_for("gan", "fashion_mnist"),
                                 checkpoint_every=nb["eval_every"], desc=f"{recipe.name} seed {self.seed}")
        samples = nb["generate"](result["G"], nb["n_eval"], seed=run.seed_for("samples", "fashion_mnist"))
        history = result["history"]
        inception = self.inception(samples[:self.n_inception]) if self.inception else {}
        return {"fid": round(self.scorer.fid_only(samples), 3), **inception,
                "fid_by_epoch": [round(self.checkpoint_fid(result["checkpoints"][u]), 3) for u in history["eval_updates"]],
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


# Recipe fields that earlier versions of the notebook had (levers no recipe uses any more), with the
# value that switched each off: a logged run with these values is the same training as today's recipe.
REMOVED_FIELDS_OFF = {"betas_g": None, "lr_decay_start": None, "d_steps": 1, "r1_gamma": 0.0, "r1_every": 1,
                      "spectral_norm": False, "instance_noise": 0.0, "real_target": 1.0}


def same_recipe(logged: dict, recipe: dict, defaults: dict) -> bool:
    """Whether a logged recipe (a JSON dict, perhaps from an older Recipe) trains exactly as `recipe`
    (today's fields, as JSON); names are ignored. `defaults`: today's Recipe defaults, for older logs
    that predate a field."""
    full = {**defaults, **logged}
    return (all(full[k] == v for k, v in recipe.items() if k != "name")
            and all(full[k] == off for k, off in REMOVED_FIELDS_OFF.items() if k in full)
            and set(full) <= set(recipe) | set(REMOVED_FIELDS_OFF))
