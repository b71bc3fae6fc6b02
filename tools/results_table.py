"""Print the README's results table from figures/*/metrics.json.

    python tools/results_table.py            # print the table
    python tools/results_table.py --check    # exit 1 if README.md's table is stale
    python tools/results_table.py --write    # rewrite README.md's table from figures/

The README holds the table between the markers below; tests run --check so the
numbers in the README always come from the metrics files. The check accepts a
table made from the committed metrics (git HEAD) as well as one made from the
working tree, so a user who re-runs a notebook locally (which rewrites
figures/<topic>/metrics.json) does not break `make test`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def pct(x) -> str:
    return "—" if x is None else f"{100 * x:.2f}%"


def num(x, digits=2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def load(topic: str, committed: bool = False) -> dict | None:
    path = REPO / "figures" / topic / "metrics.json"
    if committed:
        proc = subprocess.run(["git", "show", f"HEAD:figures/{topic}/metrics.json"], cwd=REPO,
                              capture_output=True, text=True)
        return json.loads(proc.stdout) if proc.returncode == 0 else None
    return json.loads(path.read_text()) if path.exists() else None


def rows(committed: bool = False) -> list:
    out = []

    if m := load("binary_addition", committed):
        run = f"{m['profile']}, {m['device']}"
        p1 = m["part1"]
        by = p1["sequence_accuracy_by_digits"]
        out.append(("Binary addition, Part 1 (RNN, 10 ReLU units)",
                    f"digit {pct(p1['digit_accuracy'])}, whole sums {pct(p1['sequence_accuracy'])} (≤16 digits); "
                    f"whole sums at 64 / 256 digits: {pct(by.get('64'))} / {pct(by.get('256'))}", run))
        part2 = [("Binary addition, Part 2: the question's RNN (ReLU, 2 inputs, 100 units, read then emit)"
                  if cell == "rnn" else f"Binary addition, Part 2: {cell.upper()} (extension)", entry)
                 for cell, entry in m["part2"].items()]
        if m.get("part2_extra_inputs"):
            part2.append(("Binary addition, Part 2: RNN + phase flag and previous digit (extension)",
                          m["part2_extra_inputs"]))
        for name, entry in part2:
            out.append((name, f"digit {pct(entry['digit_accuracy'])}, whole sums {pct(entry['sequence_accuracy'])}",
                        run))
    if m := load("gan", committed):
        floor = m.get("fid_real_floor", {})
        for key, name in (("fashion_gan", "FashionMNIST GAN, our recipe"),
                          ("fashion_gan_plain", "FashionMNIST GAN, plain recipe"),
                          ("mnist_cgan", "MNIST conditional GAN (reference)")):
            if m.get(key):
                dataset = "mnist" if key.startswith("mnist") else "fashion_mnist"
                # every GAN gets the same updates: 6 passes over FashionMNIST, many more over the offline digits
                passes = m["cgan_epochs"] if dataset == "mnist" and "cgan_epochs" in m else m["epochs"]
                images = m.get("n_train", {}).get(dataset)
                run = (f"{m['profile']}, {m['device']}, {m['gan_updates']:,} updates = {passes:g} passes"
                       + (f" over {images:,} images" if images else ""))
                labels = f", label accuracy {pct(m[key]['label_accuracy'])}" if "label_accuracy" in m[key] else ""
                out.append((name, f"FID {num(m[key]['fid'])} (real-data floor {num(floor.get(dataset))}), "
                                  f"KID {num(m[key]['kid'], 4)}, IS {num(m[key]['inception_score'])}{labels}", run))
    if m := load("sentiment", committed):
        run = f"{m['profile']}, {m['device']}, {m['dataset']}"
        encoder = m.get("encoder", "BERT")
        if m.get("model_a"):
            out.append((f"Sentiment, Model A (frozen {encoder} + GRU, the homework's model)",
                        f"test accuracy {pct(m['model_a']['test_accuracy'])}", run))
        if ft := m.get("fine_tuned"):
            layers = ("all" if ft["trained_layers"] == ft.get("encoder_layers") else "top") + f" {ft['trained_layers']} layers"
            out.append((f"Sentiment, {encoder} fine-tuned ({layers})",
                        f"test accuracy {pct(m['fine_tuned']['test_accuracy'])}", run))
        out.append(("Sentiment, Model B (transformer from scratch)",
                    f"test accuracy {pct(m['model_b']['test_accuracy'])}", run))
        out.append(("Sentiment, bag-of-n-grams baseline", f"test accuracy {pct(m['baseline_test_accuracy'])}", run))
    return out


TOPICS = (("binary_addition", "binary addition"), ("gan", "GAN"), ("sentiment", "sentiment"))


def wall_times(committed: bool = False) -> str:
    """One line: how long each committed notebook run took, with its profile and threads."""
    parts = []
    for topic, name in TOPICS:
        if m := load(topic, committed):
            parts.append(f"{name} {m['wall_seconds']:,.0f} s ({m['profile']}, {m['device']}, "
                         f"{m.get('threads', '?')} threads)")
    return "Wall time of each run: " + "; ".join(parts) + "."


def table(committed: bool = False) -> str:
    lines = ["| result | numbers | run (profile, device) |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows(committed)]
    return "\n".join(lines) + "\n\n" + wall_times(committed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--write", action="store_true", help="rewrite README.md's table in place")
    args = parser.parse_args()
    readme = (REPO / "README.md").read_text()
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    current = readme[start:end].strip()
    if args.check:
        if current not in (table(), table(committed=True)):
            print("README.md's results table is stale: run python tools/results_table.py --write", file=sys.stderr)
            raise SystemExit(1)
    elif args.write:
        (REPO / "README.md").write_text(readme[:start] + "\n" + table() + "\n" + readme[end:])
    else:
        print(table())


if __name__ == "__main__":
    main()
