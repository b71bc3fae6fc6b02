"""Print the results table of docs/results.md from figures/*/metrics.json.

    python tools/results_table.py            # print the table
    python tools/results_table.py --check    # exit 1 if docs/results.md's table is stale
    python tools/results_table.py --write    # rewrite docs/results.md's table from figures/

docs/results.md holds the table between the markers below; tests run --check so
the numbers there always come from the metrics files, as they are on disk.
Runs started by `make` write under build/, never figures/; `make publish`
(tools/publish.py) copies a run into figures/ and rewrites this table. A
number that moved to a companion notebook is read from
figures/<companion stem>/metrics.json (the graded notebook's file first).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import manifest  # noqa: E402

BUNDLE = manifest.load()
RESULTS = REPO / "docs" / "results.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def pct(x) -> str:
    """A rate in percent; one that is not 1 never reads as 100.00%."""
    if x is None:
        return "—"
    return "> 99.99%" if x < 1 and f"{100 * x:.2f}" == "100.00" else f"{100 * x:.2f}%"


def num(x, digits=2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def companion_topic(topic: str) -> str | None:
    """The figures/ folder of the companion of the graded notebook that writes figures/<topic>/."""
    graded = next(nb for nb in BUNDLE.graded if nb.topic == topic)
    return next((nb.topic for nb in BUNDLE.companions(graded.stem)), None)


def _read(topic: str) -> dict | None:
    path = REPO / "figures" / topic / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None


def _merge(base: dict, top: dict) -> dict:
    """base with top's values over it, dictionaries merged key by key."""
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def binary_addition_rows(m: dict, beyond: dict) -> list:
    out = []
    if m:
        run = f"{m['profile']}, {m['device']}"
        beyond_run = f"{beyond.get('profile')}, {beyond.get('device')}, {beyond.get('part2_models_epochs')} epochs"
        p1 = m["part1"]
        by = beyond.get("part1_beyond", {}).get("sequence_accuracy_by_digits", {})
        out.append(("Binary addition, Part 1 (RNN, 10 ReLU units)",
                    f"digit {pct(p1['digit_accuracy'])}, whole sums {pct(p1['sequence_accuracy'])} (≤16 digits)", run))
        if by:
            out.append(("Binary addition, Part 1, sums longer than trained on (companion)",
                        f"whole sums at 64 / 256 digits: {pct(by.get('64'))} / {pct(by.get('256'))}",
                        f"{beyond['profile']}, {beyond['device']}"))
        rnn = m["part2"]["rnn"]
        out.append(("Binary addition, Part 2: the question's RNN (ReLU, 2 inputs, 100 units, read then emit), "
                    "recurrent weights started as a delay line",
                    f"digit {pct(rnn['digit_accuracy'])}, whole sums {pct(rnn['sequence_accuracy'])}", run))
        default = m["part2"].get("rnn_default_init")
        if default:
            out.append(("Binary addition, Part 2: the same RNN from PyTorch's default initialisation",
                        f"digit {pct(default['digit_accuracy'])}, whole sums {pct(default['sequence_accuracy'])}", run))
        names = {"gru": "GRU", "lstm": "LSTM", "rnn_extra_inputs": "RNN + phase flag and previous digit"}
        for cell, entry in beyond.get("part2_models", {}).items():
            if cell in names:
                out.append((f"Binary addition, Part 2: {names[cell]} (companion)",
                            f"digit {pct(entry['digit_accuracy'])}, whole sums {pct(entry['sequence_accuracy'])}",
                            beyond_run))
    return out


def gan_rows(m: dict, beyond: dict) -> list:
    """Part (c)'s FashionMNIST GANs and the class demo's MNIST cGAN, in both feature spaces."""
    if not m or "part_c" not in m:
        return []
    c, table = m["part_c"], m["comparison_2x2"]
    run = f"{m['profile']}, {m['device']}, {m['gan_updates']:,} updates each"
    out = []
    for name, s, floor in (("FashionMNIST GAN, our recipe", c["ours"], c["floor"]),
                           ("FashionMNIST GAN, the demo's recipe", c["plain"], c["floor"]),
                           ("MNIST conditional GAN, the class demo", table["MNIST cGAN"], table["MNIST floor"])):
        labels = f", label accuracy {pct(s['label_accuracy'])}" if "label_accuracy" in s else ""
        out.append((name, f"classifier-feature FID {num(s['fid'])} (real-data floor {num(floor['fid'])}), KID {num(s['kid'], 4)}, "
                          f"IS {num(s['inception_score'])}{labels}; Inception FID {num(s['inception_fid'])} (floor "
                          f"{num(floor['inception_fid'])}), Inception KID {num(s['inception_kid'], 4)}, "
                          f"{s['inception_n_images']:,} images", run))
    return out


def sentiment_rows(m: dict, beyond: dict) -> list:
    out = []
    m = _merge(beyond or {}, m) if m else beyond
    if m:
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


# How each topic's metrics read as rows (figures/<topic>/metrics.json and its companion's). A
# notebook with no entry here gets one row from its metrics' "headline" (a sentence), if it has one.
ROWS = {"binary_addition": binary_addition_rows, "gan": gan_rows, "sentiment": sentiment_rows}


def headline_row(title: str):
    def rows_of(m: dict, beyond: dict) -> list:
        m = m or beyond or {}
        return [(title, m["headline"], f"{m.get('profile')}, {m.get('device')}")] if m.get("headline") else []
    return rows_of


def rows() -> list:
    """Every graded notebook's rows, in the order of bundle.toml."""
    out = []
    for nb in BUNDLE.graded:
        companion = companion_topic(nb.topic)
        out += ROWS.get(nb.topic, headline_row(nb.title))(_read(nb.topic), (_read(companion) if companion else None) or {})
    return out


def wall_times() -> str:
    """One line: how long each committed notebook run took, with its profile and threads."""
    parts = []
    for nb in BUNDLE.graded:
        if (m := _read(nb.topic)) and "wall_seconds" in m:
            parts.append(f"{nb.stem} {m['wall_seconds']:,.0f} s ({m['profile']}, {m['device']}, "
                         f"{m.get('threads', '?')} threads)")
    return "Wall time of each run: " + "; ".join(parts) + "."


def table() -> str:
    lines = ["| result | numbers | run (profile, device) |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows()]
    return "\n".join(lines) + "\n\n" + wall_times()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--write", action="store_true", help="rewrite docs/results.md's table in place")
    args = parser.parse_args()
    readme = RESULTS.read_text()
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    current = readme[start:end].strip()
    if args.check:
        if current != table():
            print("docs/results.md's results table disagrees with figures/*/metrics.json: publish runs with "
                  "`make publish NB=...` (it rewrites the table) or run python tools/results_table.py --write",
                  file=sys.stderr)
            raise SystemExit(1)
    elif args.write:
        RESULTS.write_text(readme[:start] + "\n" + table() + "\n" + readme[end:])
    else:
        print(table())


if __name__ == "__main__":
    main()
