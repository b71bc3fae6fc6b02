"""Tests for notebooks/gan_fashion_mnist.ipynb: the networks' shapes, the metrics'
sanity in the notebook's own feature space, and the smoke-profile run."""
from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import error_outputs, execute_notebook_copy, notebook_namespace, read_metrics

import hwcommon as hw

NOTEBOOK = "gan_fashion_mnist.ipynb"


@pytest.fixture(scope="module")
def nb_code():
    # conftest compiles the cells under its own `from __future__ import annotations`, so the
    # notebook's @dataclass sees string annotations and looks its module up in sys.modules
    module_name = "notebook_gan_fashion_mnist"
    sys.modules.setdefault(module_name, types.ModuleType(module_name))
    return notebook_namespace(NOTEBOOK)


def linear_widths(net):
    return [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("num_classes", [0, 10])
def test_generator_and_discriminator_shapes(nb_code, num_classes):
    torch.manual_seed(0)
    G, D = nb_code["Generator"](num_classes), nb_code["Discriminator"](num_classes)
    extra = 10 if num_classes else 0  # the label embedding, concatenated
    assert linear_widths(G) == [(100 + extra, 256), (256, 512), (512, 1024), (1024, 784)]
    assert linear_widths(D) == [(784 + extra, 1024), (1024, 512), (512, 256), (256, 1)]
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.3 for m in D.modules()) == 3
    labels = torch.randint(10, (5,)) if num_classes else None
    fake = G(torch.randn(5, 100), labels)
    assert fake.shape == (5, 1, 28, 28)
    assert fake.abs().max() <= 1  # tanh
    assert D(fake, labels).shape == (5, 1)
    assert D(fake.reshape(5, 784), labels).shape == (5, 1)


def test_bad_inputs_get_clear_errors(nb_code):
    with pytest.raises(ValueError, match="conditional"):
        nb_code["Generator"](10)(torch.randn(2, 100))
    with pytest.raises(ValueError, match="unconditional"):
        nb_code["Discriminator"]()(torch.zeros(2, 784), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="noise"):
        nb_code["Generator"]()(torch.randn(2, 50))
    with pytest.raises(ValueError, match="28x28"):
        nb_code["Discriminator"]()(torch.zeros(2, 700))
    with pytest.raises(TypeError, match="uint8"):
        nb_code["ClassifierFeatures"](nb_code["SmallCNN"]())(torch.zeros(2, 28, 28))


def test_metrics_real_near_floor_noise_far_above(nb_code, repo):
    """The notebook's classifier features + torchmetrics: real vs real is near zero,
    noise vs real is far above it (a quickly trained classifier on 3,000 images)."""
    data = hw.fashion_mnist(repo / "data")
    train = data.train_images[:3000]
    classifier = nb_code["train_classifier"](train.float().div(127.5).sub(1).unsqueeze(1),
                                             data.train_labels[:3000], updates=60)
    scorer = nb_code["Scorer"](classifier, train[:1000], kid_subset_size=200, n_pr=300)
    other_real = scorer(train[1000:1500])
    test_real = scorer(data.test_images[:500])
    noise = scorer(nb_code["noise_images"](500))
    for real in (other_real, test_real):
        assert real["fid"] < 0.05 * noise["fid"]
        assert abs(real["kid"]) < 0.05 * noise["kid"]
        assert real["recall"] > 0.5
        assert real["inception_score"] > noise["inception_score"]
    assert noise["recall"] < 0.05
    features = nb_code["ClassifierFeatures"](classifier)
    assert features(train[:7]).shape == (7, 128)
    assert nb_code["ClassifierFeatures"](classifier, "logits")(train[:7]).shape == (7, 10)


def test_smoke_run_writes_metrics_and_samples(tmp_path):
    nb = execute_notebook_copy(NOTEBOOK, tmp_path, profile="smoke")
    assert error_outputs(nb) == []
    stderr = [o["text"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert stderr == [], f"unexplained warnings: {stderr}"

    metrics = read_metrics(tmp_path, "gan")
    for key in ("profile", "device", "seed", "epochs", "train_seconds", "data_source",
                "classifier_test_accuracy", "fid_real_floor", "inception_fid"):
        assert key in metrics, key
    assert metrics["profile"] == "smoke"
    assert metrics["inception_fid"] is None  # offline: no Inception weights
    for gan in ("fashion_gan", "fashion_gan_plain", "mnist_cgan"):
        for key in ("fid", "kid", "inception_score"):
            assert isinstance(metrics[gan][key], float) and math.isfinite(metrics[gan][key]), (gan, key)
    for dataset in ("fashion_mnist", "mnist"):
        assert 0 <= metrics["fid_real_floor"][dataset] < metrics["fid_noise_ceiling"][dataset]
        assert 0 <= metrics["classifier_test_accuracy"][dataset] <= 1

    fashion = np.load(tmp_path / "build" / "gan" / "fashion_samples.npy")
    assert fashion.shape == (10000, 28, 28) and fashion.dtype == np.uint8
    with np.load(tmp_path / "build" / "gan" / "mnist_cgan_samples.npz") as cgan:
        images, labels = cgan["images"], cgan["labels"]
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,)
    assert np.bincount(labels, minlength=10).tolist() == [1000] * 10
    for name in ("losses_and_fid.png", "samples_plain.png", "samples_ours.png", "class_histogram.png",
                 "samples_cgan_vs_fashion.png", "nearest_fashion_gan.png"):
        assert (tmp_path / "figures" / "gan" / name).stat().st_size > 0, name
