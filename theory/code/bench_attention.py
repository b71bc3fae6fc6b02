"""Benchmark (not a test): time and peak memory of softmax attention vs the two
O(T) variants of NYU Problem 3, against the sequence length T.

    OMP_NUM_THREADS=1 python -m theory.code.bench_attention

Each (method, T) runs in a fresh subprocess on one CPU thread, so that the
peak resident memory it reports (ru_maxrss after the call minus before it)
belongs to that call alone. Writes figures/theory/attention_scaling.{pdf,png}
attention_scaling.json and attention_scaling_table.tex. Takes about a minute or two on a CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "figures" / "theory"
D_MODEL = 64
WINDOW = 64          # sliding window: each query sees 2*64+1 = 129 keys
METHODS = {          # label -> (function call, largest T we dare on a shared CPU)
    "softmax (full)": ("attention.softmax_attention(q, k, v)", 2 ** 13),
    "linear (kernelised)": ("attention.linear_attention(q, k, v)", 2 ** 16),
    f"sliding window (w={WINDOW})": (f"attention.sliding_window_attention(q, k, v, {WINDOW})", 2 ** 16),
}

CHILD = r"""
import resource, sys, time, json
import torch
torch.set_num_threads(1)
sys.path.insert(0, {repo!r})
from theory.code import attention
T, d = {T}, {d}
g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(T, d, generator=g) for _ in range(3))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
out = {call}
first = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
del out
times = [first]
for _ in range(2):
    start = time.perf_counter(); out = {call}; times.append(time.perf_counter() - start); del out
print(json.dumps({{"seconds": min(times), "peak_mib": peak_kib / 1024}}))
"""


def measure(call: str, T: int) -> dict:
    code = CHILD.format(repo=str(REPO), T=T, d=D_MODEL, call=call)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def plot(results: dict, path_stem: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(9, 3.6))
    for label, rows in results.items():
        Ts = [r["T"] for r in rows]
        ax_t.loglog(Ts, [r["seconds"] * 1e3 for r in rows], "o-", label=label)
        ax_m.loglog(Ts, [r["peak_mib"] for r in rows], "o-", label=label)
    # slope guides: T^2 through softmax at T=2048, T through linear attention at T=2048
    anchors = {"softmax (full)": (2, ":", r"$\propto T^2$"), "linear (kernelised)": (1, "--", r"$\propto T$")}
    for ax, key, scale in ((ax_t, "seconds", 1e3), (ax_m, "peak_mib", 1.0)):
        for label, (power, style, name) in anchors.items():
            rows = results[label]
            anchor = next(r for r in rows if r["T"] == 2048)
            Ts = [rows[0]["T"], rows[-1]["T"]]
            ax.loglog(Ts, [anchor[key] * scale * (T / 2048) ** power for T in Ts], "k" + style, lw=0.8, label=name)
    ax_t.set(xlabel="sequence length T", ylabel="time per call (ms)", title=f"time (1 CPU thread, d={D_MODEL})")
    ax_m.set(xlabel="sequence length T", ylabel="peak extra resident memory (MiB)", title="peak memory")
    for ax in (ax_t, ax_m):
        ax.set_xscale("log", base=2)
    ax_t.legend(fontsize=7)
    for ax in (ax_t, ax_m):
        ax.grid(True, which="both", lw=0.3)
    fig.tight_layout()
    for ext in ("pdf", "png"):
        tmp = path_stem.with_name(f".{path_stem.name}.tmp.{ext}")
        fig.savefig(tmp, dpi=150)
        os.replace(tmp, path_stem.with_suffix(f".{ext}"))
    plt.close(fig)


def write_table(results: dict, path: Path) -> None:
    """A booktabs table of the measured numbers (rows: T; per method: ms and MiB), \\input by NYU P3."""
    Ts = sorted({r["T"] for rows in results.values() for r in rows})
    shown = [T for T in Ts if T in (1024, 4096, 8192, 65536)]
    labels = list(results)
    lines = [r"\begin{tabular}{r" + "rr" * len(labels) + "}", r"\toprule",
             " & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{label.replace('w=', '$w=$')}}}" for label in labels) + r" \\",
             "".join(rf"\cmidrule(lr){{{2 + 2 * n}-{3 + 2 * n}}}" for n in range(len(labels))),
             "$T$ & " + " & ".join(["ms", "MiB"] * len(labels)) + r" \\", r"\midrule"]
    for T in shown:
        cells = []
        for label in labels:
            row = next((r for r in results[label] if r["T"] == T), None)
            cells += [f"{row['seconds'] * 1e3:.1f}", f"{row['peak_mib']:.0f}"] if row else ["---", "---"]
        lines.append(f"{T} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-log2", type=int, default=8)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--replot", action="store_true", help="redraw the figure from attention_scaling.json")
    args = parser.parse_args()
    if args.replot:
        results = json.loads((args.out_dir / "attention_scaling.json").read_text())["results"]
        plot(results, args.out_dir / "attention_scaling")
        write_table(results, args.out_dir / "attention_scaling_table.tex")
        return
    results = {}
    for label, (call, largest) in METHODS.items():
        rows = []
        T = 2 ** args.min_log2
        while T <= largest:
            row = {"T": T, **measure(call, T)}
            rows.append(row)
            print(f"{label:26s} T={T:6d}  {row['seconds'] * 1e3:9.2f} ms  {row['peak_mib']:8.1f} MiB", flush=True)
            T *= 2
        results[label] = rows
    args.out_dir.mkdir(parents=True, exist_ok=True)
    plot(results, args.out_dir / "attention_scaling")
    write_table(results, args.out_dir / "attention_scaling_table.tex")
    meta = {"d_model": D_MODEL, "window": WINDOW, "threads": 1, "dtype": "float32", "results": results}
    tmp = args.out_dir / ".attention_scaling.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, args.out_dir / "attention_scaling.json")
    print(f"wrote {args.out_dir / 'attention_scaling.pdf'} and .png")


if __name__ == "__main__":
    main()
