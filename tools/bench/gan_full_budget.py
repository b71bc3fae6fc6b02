"""Our FashionMNIST recipe at the notebook's full budget (40 epochs, 18,720 updates) with other
EMA decays of G's weights: a measurement for choosing the decay, outside the graded run.

Each decay is trained and scored exactly as the notebook's full profile trains and scores its
FashionMNIST GAN for that HW_SEED (its classifier, reference set and seeds), on one CPU thread,
and logged with its FID against epoch in figures/gan_fashion_mnist_beyond/full_budget.json.

    HW_THREADS=1 .venv/bin/python tools/bench/gan_full_budget.py --ema-decay 0.99 0.999 [--seed 0]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gan_experiment import REPO, FashionSetup, locked_json, set_threads  # noqa: E402

LOG = REPO / "figures" / "gan_fashion_mnist_beyond" / "full_budget.json"
COMMAND = "HW_THREADS=1 .venv/bin/python tools/bench/gan_full_budget.py --ema-decay DECAY ... --seed SEED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ema-decay", type=float, nargs="+", required=True, help="EMA decays to train, each in (0, 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    threads = set_threads()
    setup = FashionSetup(args.seed, profile="full")
    for decay in args.ema_decay:
        recipe = dataclasses.replace(setup.nb["OURS"], name=f"ours, EMA decay {decay}", ema_decay=decay)  # Recipe checks it
        result = setup.train_and_score(recipe)
        print(f"EMA decay {decay}: FID {result['fid']:.2f}; by epoch {result['fid_by_epoch']}", flush=True)
        with locked_json(LOG, {"runs": []}) as log:
            log["command"] = COMMAND
            log["runs"] = [r for r in log["runs"] if (r["recipe"]["ema_decay"], r["seed"]) != (decay, args.seed)]
            log["runs"].append({"seed": args.seed, "threads": threads, "gan_updates": setup.nb["gan_updates"],
                                "classifier_updates": setup.nb["classifier_updates"],
                                "recipe": dataclasses.asdict(recipe), **result})


if __name__ == "__main__":
    main()
