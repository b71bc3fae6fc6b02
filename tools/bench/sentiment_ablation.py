"""What each choice of the sentiment recipes is worth, measured with the notebooks' own code
(the cells tagged "library" of transformer_sentiment.ipynb and of its companion
transformer_sentiment_beyond.ipynb) on the offline reviews, seed 0, the quick profile's budgets,
and written to figures/transformer_sentiment_beyond/ablation.json, which the companion shows as a table.

    HW_THREADS=1 .venv/bin/python tools/bench/sentiment_ablation.py      # or: make sentiment-ablation

Rows: Model A (frozen all-MiniLM-L6-v2 + the homework's GRU, 2 epochs, batch 128, trained on the
cached encoder states as in the companion) with Adam's constant default learning rate against the
one-cycle schedule the notebooks use; the fine-tuned encoder (AdamW 3e-4, batch 32, batches of
similar length) with its top 1, 3 and all 6 layers trained for one epoch, and its top 3 for two
epochs (about the time of all 6 for one).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tools import notebook_code  # noqa: E402
from tools.atomic import atomic_output  # noqa: E402

import hwcommon as hw  # noqa: E402  (notebook_code puts notebooks/ on the path)

OUT = REPO / "figures" / "transformer_sentiment_beyond" / "ablation.json"
SEED = 0


def notebook_library(run) -> dict:
    """The graded notebook's library cells, then the companion's, in one namespace (as the companion runs them)."""
    graded = notebook_code.load("transformer_sentiment", run=run)
    return notebook_code.load("transformer_sentiment_beyond",
                              **{k: v for k, v in graded.items() if not k.startswith("__")})


def main() -> None:
    torch.set_num_threads(int(os.environ.get("HW_THREADS", "1")))
    work = Path(tempfile.mkdtemp(prefix="sentiment_ablation."))
    run = hw.Run(topic="sentiment_ablation", profile="quick", device=torch.device("cpu"), seed=SEED, root=work)
    nb = notebook_library(run)
    data = hw.reviews(REPO / "data", seed=SEED, imdb=False)
    folder = hw.minilm(REPO / "data")
    tokenizer = nb["BertTokenizerFast"](tokenizer_file=str(folder / "tokenizer.json"))
    encoder = nb["BertModel"].from_pretrained(folder, attn_implementation="sdpa").eval()
    last = encoder.config.num_hidden_layers
    splits = {name: nb["encode"](tokenizer, getattr(data, name), 512) for name in ("train", "valid", "test")}
    states = {name: nb["encoder_states"](encoder, examples, desc=name) for name, examples in splits.items()}
    cached = {name: [(s, label) for s, (_, label) in zip(states[name], splits[name])] for name in splits}
    criterion = torch.nn.BCEWithLogitsLoss()

    def finish(name, model, history, started, test_loader, **settings):
        loss, accuracy = nb["evaluate"](model, test_loader, criterion)
        row = {"name": name, **settings, "test_accuracy": round(accuracy, 4), "test_loss": round(loss, 4),
               "best_epoch": min(history, key=lambda h: h["valid_loss"])["epoch"],
               "train_seconds": round(time.perf_counter() - started, 1)}
        print(row, flush=True)
        return row

    rows = []
    for schedule, learning_rate in (("constant", 1e-3), ("one-cycle", 1e-2)):
        torch.manual_seed(run.seed_for("model_a", "init"))
        model = nb["BertGRUSentiment"](encoder)
        nb["freeze"](model.bert)
        train_loader = nb["loader"](cached["train"], 128, shuffle=True, seed=run.seed_for("model_a", "order"),
                                    collate=nb["pad_states"])
        torch.manual_seed(run.seed_for("model_a", "train"))
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
        scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate,
                                                         total_steps=2 * len(train_loader), pct_start=0.1)
                     if schedule == "one-cycle" else None)
        started = time.perf_counter()
        head = nb["HeadOnStates"](model)
        history = nb["fit"](head, train_loader, nb["loader"](cached["valid"], 256, collate=nb["pad_states"]),
                            optimizer, criterion, 2, work / "model_a.pt", scheduler)
        rows.append(finish("Model A", head, history, started, nb["loader"](cached["test"], 256, collate=nb["pad_states"]),
                           schedule=schedule, learning_rate=learning_rate, epochs=2))
    for trained, epochs in [(1, 1), (3, 1), (last, 1), (3, 2)]:  # (trained top layers, epochs)
        torch.manual_seed(run.seed_for("fine_tuned", "init"))
        model = nb["FineTunedBert"](encoder, trained, pad_id=tokenizer.pad_token_id)
        train_loader = nb["length_loader"](splits["train"], 32, seed=run.seed_for("fine_tuned", "order"))
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4, weight_decay=0.01)
        scheduler = nb["warmup_linear"](optimizer, epochs * len(train_loader))
        started = time.perf_counter()
        history = nb["fit"](model, train_loader, nb["loader"](splits["valid"], 256), optimizer, criterion, epochs,
                            work / "fine_tuned.pt", scheduler)
        rows.append(finish("fine-tuned", model, history, started, nb["loader"](splits["test"], 256),
                           trained_layers=trained, learning_rate=3e-4, epochs=epochs))
    record = {"command": "make sentiment-ablation", "dataset": data.name, "encoder": "all-MiniLM-L6-v2",
              "seed": SEED, "threads": torch.get_num_threads(), "rows": rows}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(OUT) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n")
    print("wrote", OUT.relative_to(REPO))


if __name__ == "__main__":
    main()
