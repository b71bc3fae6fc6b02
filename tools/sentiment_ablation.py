"""What each choice of the sentiment notebook's recipes is worth, measured with the
notebook's own code (its cells tagged "library") on the offline reviews, seed 0,
the quick profile's budgets, and written to figures/sentiment/ablation.json,
which the notebook shows as a table.

    HW_THREADS=1 .venv/bin/python tools/sentiment_ablation.py      # or: make sentiment-ablation

Rows: Model A (frozen all-MiniLM-L6-v2 + the homework's GRU, 2 epochs, batch 128)
with Adam's constant default learning rate against the one-cycle schedule the
notebook uses; the fine-tuned encoder (AdamW 3e-4, batch 32, batches of similar
length) with its top 1, 3 and all 6 layers trained for one epoch, and its top 3
for two epochs (about the time of all 6 for one).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import nbformat
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "notebooks"))
sys.path.insert(0, str(REPO / "tools"))
import hwcommon as hw  # noqa: E402
from atomic import atomic_output  # noqa: E402

OUT = REPO / "figures" / "sentiment" / "ablation.json"
SEED = 0


def notebook_library() -> dict:
    nb = nbformat.read(REPO / "notebooks" / "transformer_sentiment.ipynb", as_version=4)
    namespace: dict = {"__name__": "sentiment_notebook"}
    for cell in nb.cells:
        if cell.cell_type == "code" and "library" in cell.metadata.get("tags", []):
            exec(compile(cell.source, "transformer_sentiment.ipynb", "exec"), namespace)
    return namespace


def main() -> None:
    torch.set_num_threads(int(os.environ.get("HW_THREADS", "1")))
    nb = notebook_library()
    seed_for = lambda *names: hw.derive_seed(SEED, *names)  # noqa: E731 - the notebook's run.seed_for
    data = hw.reviews(REPO / "data", seed=SEED, imdb=False)
    folder = hw.minilm(REPO / "data")
    tokenizer = nb["BertTokenizerFast"](tokenizer_file=str(folder / "tokenizer.json"))
    encoder = nb["BertModel"].from_pretrained(folder).eval()
    last = encoder.config.num_hidden_layers
    splits = {name: nb["encode"](tokenizer, getattr(data, name), 512) for name in ("train", "valid", "test")}
    settings_ft = [(1, 1), (3, 1), (6, 1), (3, 2)]  # (trained top layers, epochs)
    layers = sorted({last} | {last - trained for trained, _ in settings_ft})
    states = {name: nb["encoder_states"](encoder, examples, layers, desc=name) for name, examples in splits.items()}
    criterion = torch.nn.BCEWithLogitsLoss()

    def examples(layer):
        return {name: [(s, label) for s, (_, label) in zip(states[name][layer], splits[name])] for name in splits}

    def loaders(layer, batch_size, key, by_length=False):
        ex = examples(layer)
        return (nb["loader"](ex["train"], batch_size, shuffle=True, seed=seed_for(key, "order"), collate=nb["pad_states"],
                             by_length=by_length),
                nb["loader"](ex["valid"], 256, collate=nb["pad_states"]),
                nb["loader"](ex["test"], 256, collate=nb["pad_states"]))

    def finish(name, model, history, started, test_loader, **settings):
        loss, accuracy = nb["evaluate"](model, test_loader, criterion)
        row = {"name": name, **settings, "test_accuracy": round(accuracy, 4), "test_loss": round(loss, 4),
               "best_epoch": min(history, key=lambda h: h["valid_loss"])["epoch"],
               "train_seconds": round(time.perf_counter() - started, 1)}
        print(row, flush=True)
        return row

    rows, work = [], Path(os.environ.get("TMPDIR", "/tmp")) / "sentiment_ablation"
    for schedule, learning_rate in (("constant", 1e-3), ("one-cycle", 1e-2)):
        torch.manual_seed(seed_for("model_a", "init"))
        model = nb["BertGRUSentiment"](encoder)
        nb["freeze"](model.bert)
        train_loader, valid_loader, test_loader = loaders(last, 128, "model_a")
        torch.manual_seed(seed_for("model_a", "train"))
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
        scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate,
                                                         total_steps=2 * len(train_loader), pct_start=0.1)
                     if schedule == "one-cycle" else None)
        started = time.perf_counter()
        head = nb["HeadOnStates"](model)
        history = nb["fit"](head, train_loader, valid_loader, optimizer, criterion, 2, work / "model_a.pt", scheduler)
        rows.append(finish("Model A", head, history, started, test_loader, schedule=schedule,
                           learning_rate=learning_rate, epochs=2))
    for trained, epochs in settings_ft:
        torch.manual_seed(seed_for("fine_tuned", "init"))
        model = nb["TopLayersClassifier"](encoder, last - trained)
        train_loader, valid_loader, test_loader = loaders(last - trained, 32, "fine_tuned", by_length=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
        scheduler = nb["warmup_linear"](optimizer, epochs * len(train_loader))
        started = time.perf_counter()
        history = nb["fit"](model, train_loader, valid_loader, optimizer, criterion, epochs, work / "fine_tuned.pt",
                            scheduler)
        rows.append(finish("fine-tuned", model, history, started, test_loader, trained_layers=trained,
                           learning_rate=3e-4, epochs=epochs))
    record = {"command": "make sentiment-ablation", "dataset": data.name, "encoder": "all-MiniLM-L6-v2",
              "seed": SEED, "threads": torch.get_num_threads(), "rows": rows}
    with atomic_output(OUT) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n")
    print("wrote", OUT.relative_to(REPO))


if __name__ == "__main__":
    main()
