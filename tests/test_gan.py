"""Tests for notebooks/gan_fashion_mnist.ipynb: the networks, the probes of its public
functions, the metrics on cases with a known answer, seeding, the classifier cache,
the committed benchmark files and the smoke-profile run."""
from __future__ import annotations

import json
import math
import sys
import types
from dataclasses import asdict

import nbformat
import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import REPO, committed_metrics, error_outputs, notebook_namespace

import hwcommon as hw

NOTEBOOK = "gan_fashion_mnist.ipynb"


pytestmark = pytest.mark.usefixtures("one_thread")  # (conftest) these tests share the machine with other runs


@pytest.fixture(scope="module")
def nb_code():
    # the notebook's @dataclass looks its module up in sys.modules
    module_name = "notebook_gan_fashion_mnist"
    sys.modules.setdefault(module_name, types.ModuleType(module_name))
    return notebook_namespace(NOTEBOOK)


@pytest.fixture(scope="module")
def fashion():
    return hw.fashion_mnist(REPO / "data")


@pytest.fixture(scope="module")
def small_classifier(nb_code, fashion):
    """A quickly trained classifier on 3,000 real images (its features are what the metrics see)."""
    train = fashion.train_images[:3000]
    return nb_code["train_classifier"](nb_code["to_device_images"](train, "cpu"), fashion.train_labels[:3000],
                                       updates=60, seed=0)


def linear_widths(net):
    return [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("num_classes", [0, 10])
def test_generator_and_discriminator_are_the_demos_layers(nb_code, num_classes):
    torch.manual_seed(0)
    G, D = nb_code["Generator"](num_classes), nb_code["Discriminator"](num_classes)
    extra = 10 if num_classes else 0  # the label embedding, concatenated
    assert linear_widths(G) == [(100 + extra, 256), (256, 512), (512, 1024), (1024, 784)]
    assert linear_widths(D) == [(784 + extra, 1024), (1024, 512), (512, 256), (256, 1)]
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.3 for m in D.modules()) == 3
    assert [m.negative_slope for m in G.modules() if isinstance(m, nn.LeakyReLU)] == [0.2] * 3
    assert isinstance(G.net[-1], nn.Tanh)
    labels = torch.randint(10, (5,)) if num_classes else None
    fake = G(torch.randn(5, 100), labels)
    assert fake.shape == (5, 1, 28, 28)
    assert D(fake, labels).shape == (5, 1)


def test_probes_get_clear_errors(nb_code):
    generate, G, cG = nb_code["generate"], nb_code["Generator"](), nb_code["Generator"](10)
    for n in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            generate(G, n)
    with pytest.raises(ValueError, match="conditional; pass labels"):
        generate(cG, 4)
    with pytest.raises(ValueError, match="unconditional"):
        generate(G, 4, labels=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        generate(cG, 4, labels=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        generate(cG, 4, labels=torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(TypeError, match="integer tensor"):
        generate(cG, 4, labels=torch.zeros(4))
    with pytest.raises(TypeError, match="integer tensor"):
        generate(cG, 4, labels=[0, 1, 2, 3])
    for bad in (torch.tensor([0, 1, 2, 10]), torch.tensor([-1, 0, 1, 2])):
        with pytest.raises(ValueError, match=r"in \[0, 9\]"):
            generate(cG, 4, labels=bad)
    assert generate(cG, 4, labels=torch.tensor([0, 9, 3, 3], dtype=torch.int32)).shape == (4, 28, 28)

    # the classifier and the feature module take uint8 28x28 single-channel images, nothing reshaped
    cnn = nb_code["SmallCNN"]()
    for call in (lambda x: nb_code["predict"](cnn, x), nb_code["ClassifierFeatures"](cnn)):
        for shape in [(2, 784), (2, 3, 28, 28), (2, 32, 32), (2, 28, 28, 1), (0, 28, 28), (28, 28)]:
            with pytest.raises(ValueError, match="28x28 single-channel"):
                call(torch.zeros(shape, dtype=torch.uint8))
        with pytest.raises(TypeError, match="uint8"):
            call(torch.zeros(2, 28, 28))
        with pytest.raises(TypeError, match="uint8"):
            call(np.zeros((2, 28, 28), dtype=np.uint8))
    assert nb_code["predict"](cnn, torch.zeros(3, 1, 28, 28, dtype=torch.uint8)).shape == (3,)

    with pytest.raises(ValueError, match="conditional"):
        nb_code["Generator"](10)(torch.randn(2, 100))
    with pytest.raises(ValueError, match="noise"):
        nb_code["Generator"]()(torch.randn(2, 50))
    with pytest.raises(ValueError, match="28x28"):
        nb_code["Discriminator"]()(torch.zeros(2, 700))
    Recipe = nb_code["Recipe"]
    with pytest.raises(ValueError, match="loss"):
        Recipe("x", loss="wasserstein")
    with pytest.raises(ValueError, match="ema_decay"):
        Recipe("x", ema_decay=1.0)
    with pytest.raises(ValueError, match="labels and num_classes"):
        nb_code["train_gan"](Recipe("x"), torch.zeros(200, 1, 28, 28), 1, seed=0, num_classes=10)


def test_precision_recall_on_a_hand_checked_case(nb_code):
    """Real points 0, 1, 2, 3 on a line; with k = 1 every real ball has radius 1.
    Fakes at 0.5 and 1.4 fall inside a real ball, the fake at 10 does not: precision 2/3.
    Fake radii (k = 1): 0.9, 0.9 and 8.6 (10 to 1.4). Reals 0, 1, 2 lie within 0.9 of 0.5
    or 1.4; real 3 is 1.6 from 1.4 but 7 <= 8.6 from 10: recall 1, thanks to the outlier.
    Without the outlier, real 3 is not covered: recall 3/4."""
    line = lambda xs: torch.tensor([[x, 0.0] for x in xs])
    real = line([0, 1, 2, 3])
    assert nb_code["precision_recall"](real, line([0.5, 1.4, 10]), k=1) == pytest.approx((2 / 3, 1.0))
    assert nb_code["precision_recall"](real, line([0.5, 1.4]), k=1) == pytest.approx((1.0, 0.75))


def test_scores_on_sets_with_known_answers(nb_code, fashion, small_classifier):
    """A set against itself: FID 0. Real images score near the floor, noise far above,
    and the scores do not depend on what drew from torch's global RNG before."""
    train = fashion.train_images[:3000]
    Scorer = nb_code["Scorer"]
    scorer = Scorer(small_classifier, train[:1000], seed=5, kid_subset_size=200, n_pr=300)
    noise = scorer(nb_code["noise_images"](500, seed=1))
    assert scorer.fid_only(train[:1000]) == pytest.approx(0, abs=1e-3 * noise["fid"])
    torch.manual_seed(123)
    test_real = scorer(fashion.test_images[:500])
    torch.rand(1000)  # whatever ran before must not matter
    assert scorer(fashion.test_images[:500]) == test_real
    assert test_real["fid"] < 0.05 * noise["fid"]
    assert abs(test_real["kid"]) < 0.05 * noise["kid"]
    assert test_real["recall"] > 0.5 and noise["recall"] < 0.05
    assert test_real["inception_score"] > 2 * noise["inception_score"]
    other_seed = Scorer(small_classifier, train[:1000], seed=6, kid_subset_size=200, n_pr=300)(fashion.test_images[:500])
    assert other_seed["fid"] == test_real["fid"]  # FID has no random part ...
    assert other_seed["kid_std"] != test_real["kid_std"]  # ... KID's subsets come from the seed


def test_generate_and_train_gan_depend_on_their_seed_alone(nb_code):
    Recipe, train_gan, generate = nb_code["Recipe"], nb_code["train_gan"], nb_code["generate"]
    images = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    recipe = Recipe("t", lr_g=5e-4, lr_d=5e-4, ema_decay=0.9, batch_size=64)
    calls = []

    def evaluate(G):  # draws from the global RNG: must not change the training
        calls.append(1)
        return torch.rand(1).item()

    before = torch.random.get_rng_state()
    a = train_gan(recipe, images, 7, seed=3)
    assert torch.equal(torch.random.get_rng_state(), before), "train_gan moved the global RNG"
    b = train_gan(recipe, images, 7, seed=3, evaluate=evaluate, eval_every=2)
    c = train_gan(recipe, images, 7, seed=4)
    assert len(calls) == 2 * 4  # EMA and raw generator at updates 2, 4, 6, 7
    assert b["history"]["eval_updates"] == [2, 4, 6, 7]
    for p, q in zip(a["G"].parameters(), b["G"].parameters()):
        assert torch.equal(p, q)
    assert a["history"]["loss_d"] == b["history"]["loss_d"]
    assert a["history"]["loss_d"] != c["history"]["loss_d"]
    assert torch.equal(generate(a["G"], 5, seed=1), generate(b["G"], 5, seed=1))
    assert not torch.equal(generate(a["G"], 5, seed=1), generate(a["G"], 5, seed=2))


@pytest.mark.parametrize("changes", [dict(loss="hinge", spectral_norm=True, betas=(0.0, 0.9)),
                                     dict(loss="lsgan", instance_noise=0.1, d_steps=2),
                                     dict(r1_gamma=1.0, r1_every=2, lr_decay_start=0.5, real_target=0.9)])
def test_every_recipe_lever_trains(nb_code, changes):
    images = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    labels = torch.arange(200) % 10
    r = nb_code["train_gan"](nb_code["Recipe"]("t", batch_size=32, **changes), images, 4, seed=0,
                             labels=labels, num_classes=10)
    assert len(r["history"]["loss_d"]) == 4 and all(math.isfinite(v) for v in r["history"]["loss_d"])
    D = r["D"]
    spectral = any("parametrizations" in name for name, _ in D.named_parameters())
    assert spectral == changes.get("spectral_norm", False)


def test_classifier_cache_gives_the_trained_weights(nb_code, fashion, tmp_path):
    images = nb_code["to_device_images"](fashion.train_images[:600], "cpu")
    labels = fashion.train_labels[:600]
    load = nb_code["load_or_train_classifier"]
    trained, how = load(tmp_path, "fashion_mnist", images, labels, updates=5, seed=1)
    assert how.startswith("trained")
    loaded, how = load(tmp_path, "fashion_mnist", images, labels, updates=5, seed=1)
    assert how.startswith("loaded")
    for (name, p), (_, q) in zip(trained.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(p, q), name
    test = fashion.test_images[:200]
    assert torch.equal(nb_code["predict"](trained, test), nb_code["predict"](loaded, test))
    other, how = load(tmp_path, "fashion_mnist", images, labels, updates=5, seed=2)
    assert how.startswith("trained") and len(list(tmp_path.glob("classifier_*.pt"))) == 2
    assert not torch.equal(other.head[1].weight, trained.head[1].weight)
    for path in tmp_path.glob("classifier_*.pt"):
        path.write_bytes(b"corrupt")
    again, how = load(tmp_path, "fashion_mnist", images, labels, updates=5, seed=1)
    assert how.startswith("trained") and torch.equal(again.head[1].weight, trained.head[1].weight)


def quick_budget(nb_code) -> dict:
    """The notebook's budget cell, executed for the quick profile."""
    run = types.SimpleNamespace(device=torch.device("cpu"), pick=lambda **kw: kw["quick"])
    return notebook_namespace(NOTEBOOK, tag="budget", extra={"run": run})


def test_committed_benchmark_matches_the_notebooks_recipe(nb_code):
    seeds = json.loads((REPO / "figures" / "gan" / "seeds.json").read_text())
    ours = json.loads(json.dumps(asdict(nb_code["OURS"])))
    assert seeds["recipe"] == ours, "figures/gan/seeds.json is stale: re-run `make ganseeds`"
    assert seeds["gan_updates"] == quick_budget(nb_code)["gan_updates"]
    assert seeds["seeds"] == [0, 1, 2]
    rows = [seeds["per_seed"][str(s)] for s in seeds["seeds"]]
    for row in rows:
        assert row["ratio"] == pytest.approx(row["ours_fid"] / row["plain_fid"], abs=1e-4)
        assert row["ratio"] <= 0.5  # the target, on every seed
    for key in ("plain_fid", "ours_fid", "ratio"):
        values = [row[key] for row in rows]
        assert seeds["mean"][key] == pytest.approx(np.mean(values), abs=1e-4)
        assert seeds["spread"][key] == pytest.approx(max(values) - min(values), abs=1e-4)
    search = json.loads((REPO / "figures" / "gan" / "recipe_search.json").read_text())
    defaults = json.loads(json.dumps(asdict(nb_code["Recipe"]("default"))))
    unnamed = lambda recipe: {k: v for k, v in {**defaults, **recipe}.items() if k != "name"}  # noqa: E731
    ours_runs = {r["seed"] for r in search["runs"] if unnamed(r["recipe"]) == unnamed(ours)}
    assert ours_runs >= {0, 1, 2}, "the search log holds the chosen recipe on three seeds"


def test_mnist_cells_differ_from_our_recipe_in_ds_momentum_only(nb_code):
    """The 2 x 2 trains FashionMNIST with OURS and MNIST with OURS_MNIST: the same recipe except
    D's Adam betas, which keep the demo's beta1 = 0.5 on MNIST."""
    ours, mnist = (asdict(nb_code[k]) for k in ("OURS", "OURS_MNIST"))
    assert {k for k in ours if ours[k] != mnist[k]} == {"name", "betas"}
    assert ours["betas"][0] == 0.0 and mnist["betas"] == (0.5, 0.999) == nb_code["PLAIN"].betas
    assert nb_code["RECIPE_FOR"] == {"fashion_mnist": nb_code["OURS"], "mnist": nb_code["OURS_MNIST"]}


def check_smoke_run(metrics: dict, root) -> None:
    """What a smoke run of the notebook must record (called by tests/test_notebook_runs.py, whose
    second run shares the first run's root: it loads the classifiers the first one cached, and
    gives the same metrics)."""
    text = lambda n: "".join(o.get("text", "") for c in n.cells if c.cell_type == "code" for o in c.get("outputs", []))  # noqa: E731
    first_nb = nbformat.read(root / "executed.ipynb", as_version=4)
    nb = nbformat.read(root / "executed" / "gan_fashion_mnist-seed0.ipynb", as_version=4)
    assert "classifier trained" in text(first_nb) and "classifier loaded from the cache" in text(nb)
    assert error_outputs(nb) == []
    stderr = [o["text"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert stderr == [], f"unexplained warnings: {stderr}"

    assert metrics["profile"] == "smoke" and metrics["inception_fid"] is None  # offline: no Inception weights
    floor, ceiling = metrics["fid_real_floor"], metrics["fid_noise_ceiling"]
    for key, dataset in [("fashion_gan", "fashion_mnist"), ("fashion_gan_plain", "fashion_mnist"),
                         ("fashion_cgan", "fashion_mnist"), ("mnist_gan", "mnist"), ("mnist_cgan", "mnist")]:
        assert floor[dataset] < metrics[key]["fid"], key  # (20 updates do not beat noise yet: see the quick-run test)
        assert metrics[key]["n_images"] == 500
    assert metrics["fid_ratio_ours_over_plain"] == pytest.approx(
        metrics["fashion_gan"]["fid"] / metrics["fashion_gan_plain"]["fid"], abs=1e-3)
    for name, c in metrics["comparison_2x2"].items():
        dataset = name.split("/")[0]
        expected = math.log(ceiling[dataset] / c["fid"]) / math.log(ceiling[dataset] / floor[dataset])
        assert c["log_position"] == pytest.approx(expected, abs=1e-3), name
    assert metrics["cgan_updates"] == metrics["gan_updates"] == 20

    build = root / "build" / "gan"
    fashion = np.load(build / "fashion_samples.npy")
    assert fashion.shape == (1000, 28, 28) and fashion.dtype == np.uint8
    for name in ("mnist", "fashion_mnist"):
        with np.load(build / f"{name}_cgan_samples.npz") as cgan:
            images, labels = cgan["images"], cgan["labels"]
        assert images.shape == (1000, 28, 28) and images.dtype == np.uint8
        assert np.bincount(labels, minlength=10).tolist() == [100] * 10
        assert (np.diff(labels) >= 0).all()  # class-ordered, as the notebook says


def test_committed_run_orders_every_gan_between_floor_and_ceiling():
    """The committed (quick or full) run: each of the five GANs lies between its real-data floor
    and its noise ceiling, ours beats plain by the target ratio, and the 2 x 2 used equal updates."""
    metrics = committed_metrics("gan")
    assert metrics["profile"] in ("quick", "full")
    assert metrics["fashion_gan"]["fid"] <= 22, "our recipe: target FID <= 22 (seed 0, quick budget)"
    assert "comparison_2x2" in metrics, "figures/gan/metrics.json predates the 2 x 2: re-run the notebook"
    floor, ceiling = metrics["fid_real_floor"], metrics["fid_noise_ceiling"]
    for key, dataset in [("fashion_gan", "fashion_mnist"), ("fashion_gan_plain", "fashion_mnist"),
                         ("fashion_cgan", "fashion_mnist"), ("mnist_gan", "mnist"), ("mnist_cgan", "mnist")]:
        assert floor[dataset] < metrics[key]["fid"] < ceiling[dataset], key
    assert metrics["fid_ratio_ours_over_plain"] <= 0.5
    assert metrics["cgan_updates"] == metrics["gan_updates"]
    for key in ("fashion_cgan", "mnist_cgan"):
        assert metrics[key]["label_accuracy"] >= 0.8  # the asked-for class, most of the time (chance: 0.1)
