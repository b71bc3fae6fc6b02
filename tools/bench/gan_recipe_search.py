"""Recipe search for the FashionMNIST GAN: train named variants for 2,808 updates (6
FashionMNIST epochs, the notebook's quick budget when the search ran; every logged run has
it) on given seeds and log FID against epoch and the final FID of every run in
figures/gan_fashion_mnist_beyond/recipe_search.json (the companion notebook shows that log
as a table). The log also holds variants with levers that Recipe no longer has: hinge,
R1, spectral normalisation, instance noise and learning-rate decay (trained by the code of
commit 4be0e85) and separate Adam betas for G (commit 52436f8); this script lists and
trains the variants today's Recipe expresses.

    HW_THREADS=1 .venv/bin/python tools/bench/gan_recipe_search.py VARIANT [VARIANT ...] --seeds 0 1 2
    .venv/bin/python tools/bench/gan_recipe_search.py --list

A run already in the log (same variant, recipe, seed, budget) is skipped.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gan_experiment import REPO, FashionSetup, locked_json, notebook_code, same_recipe, set_threads  # noqa: E402

LOG = REPO / "figures" / "gan_fashion_mnist_beyond" / "recipe_search.json"
SEARCH_UPDATES = 6 * (60000 // 128)  # the budget of every run in the log


def variants(nb: dict) -> dict:
    """Every variant measured, by name: the demo's recipe changed one lever at a time, then combined."""
    R, plain, ours = nb["Recipe"], nb["PLAIN"], nb["OURS"]
    fast = dict(lr_g=5e-4, lr_d=5e-4, ema_decay=0.99)  # the recipe of the first committed run
    out = {
        "plain": plain,
        "ours": ours,
        "lr5e-4_ema0.99": R("lr5e-4_ema0.99", **fast),
        "lr5e-4": R("lr5e-4", lr_g=5e-4, lr_d=5e-4),
        "ttur_g2e-4_d8e-4_ema0.99": R("ttur_g2e-4_d8e-4_ema0.99", lr_g=2e-4, lr_d=8e-4, ema_decay=0.99),
        "lr5e-4_ema0.99_g-no-dropout": R("lr5e-4_ema0.99_g-no-dropout", **fast, g_sees_dropout=False),
        "lsgan_lr5e-4_ema0.99": R("lsgan_lr5e-4_ema0.99", loss="lsgan", **fast),
        "lsgan_lr5e-4_ema0.99_g-no-dropout": R("lsgan_lr5e-4_ema0.99_g-no-dropout", loss="lsgan", **fast,
                                                g_sees_dropout=False),
        "lsgan_lr1e-3_ema0.99": R("lsgan_lr1e-3_ema0.99", loss="lsgan", lr_g=1e-3, lr_d=1e-3, ema_decay=0.99),
        "lsgan_lr5e-4_ema0.995": R("lsgan_lr5e-4_ema0.995", loss="lsgan", lr_g=5e-4, lr_d=5e-4, ema_decay=0.995),
        "lsgan_lr5e-4_b0_ema0.99": R("lsgan_lr5e-4_b0_ema0.99", loss="lsgan", lr_g=5e-4, lr_d=5e-4,
                                     betas=(0.0, 0.99), ema_decay=0.99),
        "lsgan_lr5e-4_ema0.99_batch64": R("lsgan_lr5e-4_ema0.99_batch64", loss="lsgan", **fast, batch_size=64),
        "lsgan_lr5e-4_ema0.995_g-no-dropout": R("lsgan_lr5e-4_ema0.995_g-no-dropout", loss="lsgan", lr_g=5e-4,
                                                 lr_d=5e-4, ema_decay=0.995, g_sees_dropout=False),
        "lsgan_lr5e-4_b0_ema0.99_g-no-dropout": R("lsgan_lr5e-4_b0_ema0.99_g-no-dropout", loss="lsgan", lr_g=5e-4,
                                                   lr_d=5e-4, betas=(0.0, 0.99), ema_decay=0.99, g_sees_dropout=False),
    }
    for name, recipe in out.items():
        assert recipe.name == name or name in ("plain", "ours"), name
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--updates", type=int, default=SEARCH_UPDATES, help=f"generator updates (default: {SEARCH_UPDATES}, the log's)")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    args = parser.parse_args()
    threads = set_threads()
    quick = notebook_code("quick", 0)
    known = variants(quick)
    defaults = json.loads(json.dumps(dataclasses.asdict(quick["Recipe"]("default"))))
    if args.list or not args.variants:
        for name, recipe in known.items():
            changed = {k: v for k, v in dataclasses.asdict(recipe).items() if k != "name" and defaults.get(k) != v}
            print(f"{name:32s} {', '.join(f'{k}={v}' for k, v in changed.items()) or 'none'}")
        return
    unknown = [v for v in args.variants if v not in known]
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(unknown)} (see --list)")
    for seed in args.seeds:
        setup = None
        for name in args.variants:
            recipe = json.loads(json.dumps(dataclasses.asdict(known[name])))
            with locked_json(LOG, {"runs": []}) as log:
                done = any(r["variant"] == name and r["seed"] == seed and same_recipe(r["recipe"], recipe, defaults)
                           and r["budget"]["gan_updates"] == args.updates for r in log["runs"])
            if done:
                print(f"{name} seed {seed}: already in the log")
                continue
            setup = setup or FashionSetup(seed)
            nb = setup.nb
            budget = {"profile": "quick", "gan_updates": args.updates, "eval_every": nb["eval_every"],
                      "n_eval": nb["n_eval"], "n_epoch_eval": nb["n_epoch_eval"]}
            result = setup.train_and_score(known[name], args.updates)
            print(f"{name} seed {seed}: FID {result['fid']:.2f}; by epoch {result['fid_by_epoch']}", flush=True)
            with locked_json(LOG, {"runs": []}) as log:
                log["command"] = "HW_THREADS=1 .venv/bin/python tools/bench/gan_recipe_search.py VARIANT ... --seeds ..."
                log["runs"].append({"variant": name, "seed": seed, "recipe": recipe, "budget": budget,
                                    "threads": threads, **result})


if __name__ == "__main__":
    main()
