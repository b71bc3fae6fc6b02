"""The FashionMNIST GAN's plain recipe against ours on seeds 0, 1, 2 at the notebook's
quick budget, with the notebook's own code (see tools/gan_experiment.py), written to
figures/gan_fashion_mnist_beyond/seeds.json: per seed both FIDs and their ratio, then mean, spread and
standard deviation. `make ganseeds` runs it (one CPU thread unless HW_THREADS says
otherwise); the companion notebook shows the table.

    HW_THREADS=1 .venv/bin/python tools/gan_seeds.py [--seeds 0 1 2] [--jobs N]

--jobs runs the seeds in parallel processes (each with HW_THREADS threads); the
numbers do not depend on it.

A run that is already measured (the same recipe, seed, budget and thread count in
figures/gan_fashion_mnist_beyond/recipe_search.json or in the previous seeds.json) is read from there
instead of trained again: training and scoring are deterministic, and retrained
runs reproduce the logged FIDs exactly. --retrain trains every run.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gan_experiment import REPO, FashionSetup, notebook_code, same_recipe, set_threads  # noqa: E402

import hwcommon as hw  # noqa: E402  (gan_experiment puts notebooks/ on the path)

OUT = REPO / "figures" / "gan_fashion_mnist_beyond" / "seeds.json"


SEARCH_LOG = REPO / "figures" / "gan_fashion_mnist_beyond" / "recipe_search.json"



def measured(recipe: dict, seed: int, budget: dict, threads: int, defaults: dict) -> dict | None:
    """FID and FID-by-epoch of a run already measured with this recipe, seed, budget and threads.
    `defaults` are Recipe's defaults: a logged recipe predating a field had that field's default."""
    if SEARCH_LOG.exists():
        for r in json.loads(SEARCH_LOG.read_text())["runs"]:
            if (r["seed"] == seed and same_recipe(r["recipe"], recipe, defaults) and r["threads"] == threads
                    and all(r["budget"][k] == v for k, v in budget.items())):
                return {"fid": r["fid"], "fid_by_epoch": r["fid_by_epoch"]}
    if OUT.exists():
        previous = json.loads(OUT.read_text())
        row = previous["per_seed"].get(str(seed))
        same_budget = all(previous.get(k) == v for k, v in budget.items() if k in ("gan_updates", "n_eval"))
        if row and same_budget and previous["threads"] == threads and previous.get("eval_every") == budget["eval_every"]:
            for key, prefix in (("plain_recipe", "plain"), ("recipe", "ours")):
                if same_recipe(previous[key], recipe, defaults):
                    return {"fid": row[f"{prefix}_fid"], "fid_by_epoch": row[f"{prefix}_fid_by_epoch"]}
    return None


def one_seed(seed: int, retrain: bool = False) -> tuple:
    """Plain and ours on one seed: (per-seed row, the recipes and budget used)."""
    threads = set_threads()
    setup = None
    results = []
    probe = notebook_code("quick", seed)
    budget = {k: probe[k] for k in ("gan_updates", "eval_every", "n_eval", "n_epoch_eval")}
    for name in ("PLAIN", "OURS"):
        recipe = json.loads(json.dumps(dataclasses.asdict(probe[name])))
        defaults = json.loads(json.dumps(dataclasses.asdict(probe["Recipe"]("default"))))
        found = None if retrain else measured(recipe, seed, budget, threads, defaults)
        if found:
            print(f"seed {seed}: {name.lower()} read from an identical earlier run", flush=True)
            results.append(found)
            continue
        setup = setup or FashionSetup(seed)
        results.append(setup.train_and_score(setup.nb[name]))
    nb = probe
    plain, ours = results
    row = {"plain_fid": plain["fid"], "ours_fid": ours["fid"], "ratio": round(ours["fid"] / plain["fid"], 4),
           "plain_fid_by_epoch": plain["fid_by_epoch"], "ours_fid_by_epoch": ours["fid_by_epoch"]}
    print(f"seed {seed}: plain {plain['fid']:.2f}, ours {ours['fid']:.2f}, ratio {row['ratio']:.3f}", flush=True)
    used = {"recipe": dataclasses.asdict(nb["OURS"]), "plain_recipe": dataclasses.asdict(nb["PLAIN"]),
            "gan_updates": nb["gan_updates"], "eval_every": nb["eval_every"], "n_eval": nb["n_eval"]}
    return row, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--retrain", action="store_true", help="train every run, even one measured before")
    parser.add_argument("--jobs", type=int, default=None, help="parallel processes (default: one per seed, "
                                                                  "at most the number of CPU cores)")
    args = parser.parse_args()
    threads = set_threads()
    started = time.perf_counter()
    jobs = args.jobs or min(len(args.seeds), os.cpu_count() or 1)
    if jobs > 1:
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            outcomes = list(pool.map(one_seed, args.seeds, [args.retrain] * len(args.seeds)))
    else:
        outcomes = [one_seed(seed, args.retrain) for seed in args.seeds]
    per_seed = {str(seed): row for seed, (row, _) in zip(args.seeds, outcomes)}
    used = outcomes[0][1]
    summary = {stat: {} for stat in ("mean", "spread", "std")}
    for key in ("plain_fid", "ours_fid", "ratio"):
        values = [row[key] for row in per_seed.values()]
        summary["mean"][key] = round(statistics.fmean(values), 4)
        summary["spread"][key] = round(max(values) - min(values), 4)  # max - min
        summary["std"][key] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
    record = {
        "command": "make ganseeds",
        "seeds": args.seeds,
        "per_seed": per_seed,
        **summary,
        **used,
        "profile": "quick",
        "threads": threads,
        "torch": str(torch.__version__),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    hw.atomic_write_text(OUT, json.dumps(record, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(REPO)}: ratio mean {summary['mean']['ratio']:.3f}, "
          f"max {max(r['ratio'] for r in per_seed.values()):.3f}")


if __name__ == "__main__":
    main()
