"""Generalization to unseen generators: a patch network trained on aligned pairs (issue 11).

    .venv/bin/python benchmarks/generalization.py make-dev-pairs [--out runs/dev_pairs --n 200]
    .venv/bin/python benchmarks/generalization.py train --pairs runs/aligned --residual npr \\
        --name npr_jpeg [--no-jpeg-aug] [--epochs 6] [--resume]
    .venv/bin/python benchmarks/generalization.py ferretnet        # the reference row
    .venv/bin/python benchmarks/generalization.py table [--best]   # markdown table; --best saves it
    .venv/bin/python benchmarks/generalization.py statistics       # AUC of simple image statistics alone
    .venv/bin/python benchmarks/generalization.py crops [--detector DIR]  # where a network detector looks
    .venv/bin/python benchmarks/generalization.py oneclass         # distance from real photographs only
    .venv/bin/python benchmarks/generalization.py ensemble --member LABEL --member LABEL ...  # from a grid run
    .venv/bin/python benchmarks/generalization.py spectra|reconstruction|rigid [--per-class 100]
                                                  # training-free cues: decoder peaks, AEROBLADE, RIGID

Training material is a folder of *aligned pairs*: `manifest.csv` with path,label,generator,group
where each group holds one real image and fakes made from it (autoencoder reconstructions,
simulated decoders), so the only difference inside a group is the generator's trace. A batch
holds whole pairs: the same crop position and the same augmentation for the real and its fake.
Augmentation makes the traces survive the real world and never becomes a label shortcut:
JPEG at quality 30-100, blur and down-scaling, each applied to BOTH images of a pair; random
crops; never a resize of the whole image.

Testing is on two sets no model here saw, both with real and fake in the same format:
faces-stylegan2 (StyleGAN2 vs portraits, 300 px JPEG) and t2i-scenes (modern text-to-image vs
photos, 512 px JPEG q90), at native resolution (a few fixed crops per image, their fake
probabilities averaged), and again after re-encoding both classes at JPEG quality 75. AUC has a
95% bootstrap interval (evaluate.metrics). Each run writes to runs/generalization/NAME/:
`checkpoint.pt` after every epoch (`--resume` continues from it), `model.safetensors`,
`settings.json` and `results.json`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from deepfake_detect.backbones.finetuned import build_finetune_network
from deepfake_detect.backbones.ferretnet import build_ferretnet, ferret_fake_probability, ferret_tensor
from deepfake_detect.backbones.patchnet import build_patchnet
from deepfake_detect.data.datasets import load_dataset
from deepfake_detect.data.images import load_rgb
from deepfake_detect.evaluate.metrics import compute_metrics
from deepfake_detect.runtime import atomic_write_bytes, atomic_write_text, json_safe

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
RUNS = ROOT / "runs" / "generalization"
TEST_SETS = {"faces": SHARED / "data" / "faces-stylegan2", "t2i": SHARED / "data" / "t2i-scenes"}
FERRET_WEIGHTS = SHARED / "weights" / "ferretnet" / "ferretnet-s-median-3.pth"
STORED_SIDE = 384
"""Training images are centre-cropped (never resized) to at most this side when loaded."""


@dataclass
class Settings:
    pairs: str
    residual: str = "npr"
    network: str = "patchnet"
    """"patchnet" (a small CNN on the `residual`, random init) or a fine-tunable backbone name
    (e.g. efficientnet_lite0: its pretrained weights, end to end, on the same pairs)."""
    jpeg_aug: bool = True
    epochs: int = 6
    crop: int = 64
    crops_per_epoch: int = 3000
    batch_pairs: int = 16
    lr: float = 2e-3
    blur_p: float = 0.1
    downscale_p: float = 0.1
    jpeg_p: float = 0.6
    max_groups: int = 600
    seed: int = 0
    test_crop: int = 128
    test_crops: int = 4
    max_test_per_class: int = 0
    """0 = every test image."""
    match_spectrum: bool = False
    """Give each real crop its fake's radial power spectrum (see `match_spectrum`)."""


# ---------------------------------------------------------------- training material


def make_dev_pairs(source: Path, out: Path, n: int, side: int = 256) -> None:
    """Real centre crops and their 2x down-then-up-sampled twins (nearest and bilinear), as PNG."""
    rows = []
    for index, path in enumerate(sorted(source.glob("*.JPEG"))[:n]):
        image = load_rgb(path)
        if min(image.size) < side:
            continue
        left, top = (image.width - side) // 2, (image.height - side) // 2
        real = image.crop((left, top, left + side, top + side))
        small = real.resize((side // 2, side // 2), Image.BOX)
        versions = {"real": real, "nearest2x": small.resize((side, side), Image.NEAREST),
                    "bilinear2x": small.resize((side, side), Image.BILINEAR)}
        for generator, picture in versions.items():
            name = f"{generator}/{index:04d}.png"
            (out / generator).mkdir(parents=True, exist_ok=True)
            picture.save(out / name)
            rows.append({"path": name, "label": int(generator != "real"), "generator": generator, "group": f"g{index:04d}"})
    with open(out / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "generator", "group"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} images in {len(rows) // 3} groups -> {out / 'manifest.csv'}")


@dataclass
class Pair:
    real: np.ndarray
    fakes: list[np.ndarray]


def load_pairs(folder: Path, max_groups: int, seed: int) -> list[Pair]:
    """Groups with one real and at least one fake, each image centre-cropped to a common size."""
    groups: dict[str, dict[str, list[Path]]] = {}
    with open(folder / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            kind = "fake" if str(row["label"]).strip() in ("1", "fake") else "real"
            groups.setdefault(row["group"], {"real": [], "fake": []})[kind].append(folder / row["path"])
    names = sorted(g for g, members in groups.items() if members["real"] and members["fake"])
    random.Random(seed).shuffle(names)
    pairs = []
    for name in names[:max_groups]:
        images = [load_rgb(p) for p in groups[name]["real"][:1] + groups[name]["fake"]]
        width = min(min(i.width for i in images), STORED_SIDE)
        height = min(min(i.height for i in images), STORED_SIDE)
        arrays = [np.asarray(_centre_crop(i, width, height)) for i in images]
        pairs.append(Pair(arrays[0], arrays[1:]))
    return pairs


def _centre_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def augment_pair(real: np.ndarray, fake: np.ndarray, s: Settings, rng: random.Random) -> tuple[Image.Image, Image.Image]:
    """One crop position and one set of degradations, applied to both images alike."""
    height, width = real.shape[:2]
    region = s.crop
    if rng.random() < s.downscale_p:
        region = min(int(s.crop * rng.uniform(1.1, 2.0)), height, width)
    top, left = rng.randint(0, height - region), rng.randint(0, width - region)
    flip = rng.random() < 0.5
    sigma = rng.uniform(0.2, 1.2) if rng.random() < s.blur_p else 0.0
    quality = rng.randint(30, 100) if s.jpeg_aug and rng.random() < s.jpeg_p else None
    crops = [array[top : top + region, left : left + region] for array in (real, fake)]
    if s.match_spectrum:
        crops[0] = match_spectrum(*crops)
    out = []
    for array in crops:
        image = Image.fromarray(array)
        if region != s.crop:
            image = image.resize((s.crop, s.crop), Image.BICUBIC)
        if flip:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        if sigma:
            image = image.filter(ImageFilter.GaussianBlur(sigma))
        if quality is not None:
            image = _jpeg(image, quality)
        out.append(image)
    return out[0], out[1]


def match_spectrum(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """The real crop filtered so that its radially averaged power spectrum is the fake's.

    An autoencoder's reconstruction is a little blurrier than its source, so a network trained
    on aligned pairs learns "smooth means fake": a content cue that ranks soft-focus portraits
    as fake and sharp generated faces as real. A zero-phase filter, one gain per frequency
    ring, takes that cue away; the decoder's narrow-band periodic traces and its local
    structure stay as the only difference.
    """
    height, width = real.shape[:2]
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    rings = np.minimum((np.hypot(fy, fx) * min(height, width)).round().astype(int), min(height, width) // 2 * 2)
    spectra = [np.fft.fft2(a.astype(np.float32), axes=(0, 1)) for a in (real, fake)]
    power = [np.bincount(rings.ravel(), (np.abs(f) ** 2).sum(2).ravel(), minlength=rings.max() + 1) for f in spectra]
    gain = np.sqrt(power[1] / np.maximum(power[0], 1e-6))
    gain[0] = 1.0
    filtered = np.fft.ifft2(spectra[0] * gain[rings][:, :, None], axes=(0, 1)).real
    return np.clip(filtered.round(), 0, 255).astype(np.uint8)


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _to_tensor(images: list[Image.Image]) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(i) for i in images])).permute(0, 3, 1, 2).float() / 255.0


def pair_batch(pairs: list[Pair], s: Settings, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for pair in rng.sample(pairs, min(s.batch_pairs, len(pairs))):
        real, fake = augment_pair(pair.real, rng.choice(pair.fakes), s, rng)
        images += [real, fake]
        labels += [0, 1]
    return _to_tensor(images), torch.tensor(labels)


# ---------------------------------------------------------------- training


class Normalised(torch.nn.Module):
    """A fine-tuned backbone fed [0, 1] pixels like the patch network: normalises first."""

    def __init__(self, network: torch.nn.Module, mean, std):
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network((images - self.mean) / self.std)


def build_network(s: Settings) -> torch.nn.Module:
    if s.network == "patchnet":
        return build_patchnet(s.residual, seed=s.seed)
    network = build_finetune_network(s.network, "pretrained", seed=s.seed)
    return Normalised(network, network.info.mean, network.info.std)


def train(s: Settings, out: Path, resume: bool) -> torch.nn.Module:
    torch.set_num_threads(2)
    pairs = load_pairs(Path(s.pairs), s.max_groups, s.seed)
    n_val = max(4, len(pairs) // 10)
    train_pairs, val_pairs = pairs[n_val:], pairs[:n_val]
    print(f"{len(train_pairs)} training groups, {n_val} validation groups", flush=True)
    network = build_network(s)
    steps_per_epoch = max(1, s.crops_per_epoch // (2 * s.batch_pairs))
    optimizer = torch.optim.AdamW(network.parameters(), lr=s.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s.epochs * steps_per_epoch)
    history, start_epoch = [], 0
    checkpoint = out / "checkpoint.pt"
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        history, start_epoch = json.loads(state["history"]), int(state["epoch"])
        print(f"resumed after epoch {start_epoch}", flush=True)
    for epoch in range(start_epoch, s.epochs):
        rng = random.Random(s.seed * 1000 + epoch)  # per-epoch seed: a resumed run sees the same crops
        network.train()
        started, losses = time.perf_counter(), []
        for _ in range(steps_per_epoch):
            images, labels = pair_batch(train_pairs, s, rng)
            loss = F.cross_entropy(network(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        seconds = time.perf_counter() - started
        val_auc = validation_auc(network, val_pairs, s)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_auc": val_auc, "seconds": seconds})
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}  val AUC {val_auc:.3f}  {seconds:.0f} s", flush=True)
        state = {"model": network.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                 "history": json.dumps(history), "epoch": epoch + 1}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(checkpoint, buffer.getvalue())
    from safetensors.torch import save

    weights = {k: v.detach().contiguous().clone() for k, v in network.state_dict().items()}
    atomic_write_bytes(out / "model.safetensors", save(weights))
    atomic_write_text(out / "history.json", json.dumps(history, indent=1))
    return network.eval()


@torch.no_grad()
def validation_auc(network: torch.nn.Module, pairs: list[Pair], s: Settings) -> float:
    """AUC on held-out groups, with the same augmentation (fixed seed) as training."""
    network.eval()
    rng = random.Random(12345)
    images, labels = [], []
    for pair in pairs:
        for fake in pair.fakes:
            real_crop, fake_crop = augment_pair(pair.real, fake, s, rng)
            images += [real_crop, fake_crop]
            labels += [0, 1]
    scores = torch.cat([_probability(network, _to_tensor(images[i : i + 64])) for i in range(0, len(images), 64)])
    return compute_metrics(labels, scores.numpy(), n_bootstrap=0)["auc"]


def _probability(network: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    return torch.softmax(network(batch).float(), dim=1)[:, 1]


# ---------------------------------------------------------------- testing


def test_images(max_per_class: int) -> dict[str, tuple[list[Image.Image], list[int]]]:
    """Each test set's decoded images and labels (a seeded sample when max_per_class > 0)."""
    sets = {}
    for name, root in TEST_SETS.items():
        images, labels = [], []
        for label, folder in ((0, "real"), (1, "fake")):
            paths = sorted((root / folder).iterdir())
            if max_per_class:
                paths = sorted(random.Random(0).sample(paths, min(max_per_class, len(paths))))
            images += [load_rgb(p) for p in paths]
            labels += [label] * len(paths)
        sets[name] = (images, labels)
    return sets


def fixed_crops(image: Image.Image, side: int, count: int) -> list[Image.Image]:
    """`count` crops of `side` px spread evenly along the diagonal (the whole image if smaller)."""
    if min(image.size) <= side:
        return [image]
    positions = np.linspace(0, 1, count) if count > 1 else [0.5]
    return [image.crop((round(p * (image.width - side)), round(p * (image.height - side)),
                        round(p * (image.width - side)) + side, round(p * (image.height - side)) + side))
            for p in positions]


@torch.no_grad()
def patchnet_scores(network: torch.nn.Module, images: list[Image.Image], s: Settings) -> np.ndarray:
    network.eval()
    scores = []
    for image in images:
        crops = fixed_crops(image, s.test_crop, s.test_crops)
        scores.append(_probability(network, _to_tensor(crops)).mean().item())
    return np.array(scores)


@torch.no_grad()
def ferret_scores(network, images: list[Image.Image]) -> np.ndarray:
    batches = [torch.stack([ferret_tensor(i) for i in images[k : k + 32]]) for k in range(0, len(images), 32)]
    return torch.cat([ferret_fake_probability(network, b) for b in batches]).numpy()


def measure(score, sets) -> dict[str, dict[str, float]]:
    """AUC with its 95% interval on every test set, as is and re-encoded at JPEG quality 75."""
    results = {}
    for name, (images, labels) in sets.items():
        for variant, prepared in (("native", images), ("jpeg75", [_jpeg(i, 75) for i in images])):
            metrics = compute_metrics(labels, score(prepared))
            results[f"{name}/{variant}"] = {k: metrics[k] for k in ("auc", "auc_low", "auc_high", "accuracy", "n_real", "n_fake")}
            print(f"  {name}/{variant}: AUC {metrics['auc']:.3f} [{metrics['auc_low']:.3f}, {metrics['auc_high']:.3f}]", flush=True)
    return results


# ---------------------------------------------------------------- commands


def command_train(args: argparse.Namespace) -> None:
    s = Settings(pairs=str(Path(args.pairs).resolve()), residual=args.residual, jpeg_aug=not args.no_jpeg_aug,
                 epochs=args.epochs, crop=args.crop, crops_per_epoch=args.crops_per_epoch,
                 max_test_per_class=args.max_test_per_class, seed=args.seed, network=args.network,
                 lr=args.lr, downscale_p=args.downscale_p, match_spectrum=args.match_spectrum, jpeg_p=args.jpeg_p, batch_pairs=args.batch_pairs, test_crop=args.test_crop)
    out = RUNS / args.name
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "settings.json"
    if args.resume and saved.is_file() and json.loads(saved.read_text()) != asdict(s):
        sys.exit(f"{saved}: --resume needs the settings the run started with; they differ")
    atomic_write_text(saved, json.dumps(asdict(s), indent=1))
    network = train(s, out, args.resume)
    print("testing", flush=True)
    results = measure(lambda images: patchnet_scores(network, images, s), test_images(s.max_test_per_class))
    atomic_write_text(out / "results.json", json.dumps(json_safe(results), indent=1))


def command_ferretnet(args: argparse.Namespace) -> None:
    torch.set_num_threads(2)
    network = build_ferretnet(FERRET_WEIGHTS)
    results = measure(lambda images: ferret_scores(network, images), test_images(args.max_test_per_class))
    out = RUNS / "ferretnet_s"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(json_safe(results), indent=1))


IMAGE_STATISTICS = ("sharpness", "median residual", "noise", "colourfulness", "saturation", "contrast")
"""Global statistics of a 256 px centre crop, each read as "larger means fake" (`image_statistics`)."""


def image_statistics(path: Path) -> list[float]:
    """`IMAGE_STATISTICS` of one image: log-variance of the Laplacian, log mean absolute 3x3
    median residual, noise sigma (median absolute diagonal difference, Donoho's estimator),
    Hasler-Suesstrunk colourfulness, mean HSV saturation, grey-level standard deviation."""
    from scipy.ndimage import laplace, median_filter

    image = load_rgb(path)
    side = min(256, *image.size)
    crop = _centre_crop(image, side, side)
    rgb = np.asarray(crop, dtype=np.float32)
    grey = rgb.mean(axis=2)
    red_green, yellow_blue = rgb[..., 0] - rgb[..., 1], (rgb[..., 0] + rgb[..., 1]) / 2 - rgb[..., 2]
    diagonal = (grey[1::2, 1::2][: side // 2, : side // 2] - grey[::2, ::2][: side // 2, : side // 2]) / 2
    return [
        float(np.log(laplace(grey).var() + 1e-6)),
        float(np.log(np.abs(grey - median_filter(grey, 3)).mean() + 1e-6)),
        float(np.median(np.abs(diagonal)) / 0.6745),
        float(np.hypot(red_green.std(), yellow_blue.std()) + 0.3 * np.hypot(red_green.mean(), yellow_blue.mean())),
        float(np.asarray(crop.convert("HSV"), dtype=np.float32)[..., 1].mean()),
        float(grey.std()),
    ]


def command_statistics(args: argparse.Namespace) -> None:
    """How far simple content statistics go alone, and whether the aligned pairs teach their
    sign: AUC of each of `IMAGE_STATISTICS` as the fake score on the training pairs (the first
    `--pairs-images` rows of the manifest) and on every image of each test set. A statistic
    whose AUC is on opposite sides of 0.5 on the pairs and on a test set is a cue the training
    teaches backwards for that set."""
    manifest = load_dataset(Path(args.pairs) / "manifest.csv", max_per_class=args.pairs_images // 2, seed=0)
    sets = {"aligned pairs": ([r.path for r in manifest.records], manifest.labels)}
    sets |= {name: _sample(root) for name, root in TEST_SETS.items()}
    print("| set | images | " + " | ".join(IMAGE_STATISTICS) + " |")
    print("|---|---|" + "---|" * len(IMAGE_STATISTICS))
    for name, (paths, labels) in sets.items():
        values = np.array([image_statistics(Path(p)) for p in paths])
        aucs = [compute_metrics(labels, values[:, k], n_bootstrap=0)["auc"] for k in range(len(IMAGE_STATISTICS))]
        print(f"| {name} | {len(labels)} | " + " | ".join(f"{auc:.3f}" for auc in aucs) + " |", flush=True)


def whole_image_tiles(image: Image.Image, side: int) -> list[Image.Image]:
    """Non-overlapping `side` px tiles covering the image (the last row and column flush with
    its edges, so they may overlap their neighbours); the image itself when it is smaller."""
    if min(image.size) <= side:
        return [image]
    lefts = sorted({*range(0, image.width - side + 1, side), image.width - side})
    tops = sorted({*range(0, image.height - side + 1, side), image.height - side})
    return [image.crop((left, top, left + side, top + side)) for top in tops for left in lefts]


def command_crops(args: argparse.Namespace) -> None:
    """Where a network detector looks: AUC from one centre crop of several sizes (the networks
    pool globally, so any size runs) and from the mean P(fake) over tiles of the detector's
    input size covering the whole image. A score that moves with the crop reads content at
    the image's centre rather than traces spread over every pixel."""
    from deepfake_detect.detector.detector import Detector
    from deepfake_detect.transforms.preprocess import Preprocessing

    torch.set_num_threads(2)
    detector = Detector.load(args.detector, device="cpu", runtime="torch")
    spec = detector.spec.preprocess
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{detector.describe()}\n| set | " + " | ".join(f"centre {s}" for s in sizes) + f" | tiles of {spec.size} |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for name, root in TEST_SETS.items():
        paths, labels = _sample(root, args.per_class)
        images = [load_rgb(p) for p in paths]
        aucs = []
        for size in sizes:
            to_array = Preprocessing("center_crop", size, tuple(spec.mean), tuple(spec.std)).tensor_transform
            scores = np.concatenate([detector.score_tensors(torch.stack([to_array(i) for i in images[k : k + 32]]))
                                     for k in range(0, len(images), 32)])
            aucs.append(compute_metrics(labels, scores, n_bootstrap=0)["auc"])
        to_array = Preprocessing("center_crop", spec.size, tuple(spec.mean), tuple(spec.std)).tensor_transform
        tiled = [detector.score_tensors(torch.stack([to_array(t) for t in whole_image_tiles(i, spec.size)])).mean()
                 for i in images]
        aucs.append(compute_metrics(labels, np.array(tiled), n_bootstrap=0)["auc"])
        print(f"| {name} ({len(labels)} images) | " + " | ".join(f"{auc:.3f}" for auc in aucs) + " |", flush=True)


def command_oneclass(args: argparse.Namespace) -> None:
    """A detector that never sees a fake: model real photographs only (frozen features of
    imagenet-sample's 1000 photos, centre crops, Ledoit-Wolf covariance after standardising)
    and score each test image by its Mahalanobis distance from them, per backbone."""
    from sklearn.covariance import LedoitWolf
    from sklearn.preprocessing import StandardScaler

    from deepfake_detect.backbones import create_backbone
    from deepfake_detect.data.datasets import Dataset, ImageRecord
    from deepfake_detect.data.walk import image_files
    from deepfake_detect.features.cache import FeatureCache, default_cache_dir
    from deepfake_detect.features.extract import extract_features, feature_space, load_features
    from deepfake_detect.transforms.perturb import TransformSpec

    cache = FeatureCache(default_cache_dir())
    reals = Dataset("imagenet-sample", [ImageRecord(p, 0) for p in image_files(SHARED / "data" / "imagenet-sample")])
    tests = {name: load_dataset(root, max_per_class=args.per_class or None, seed=0) for name, root in TEST_SETS.items()}

    def features(dataset: Dataset, backbone) -> tuple[np.ndarray, np.ndarray]:
        extract_features(dataset, backbone, cache, preprocess="center_crop", workers=1)
        X, y, *_ = load_features(dataset, feature_space(backbone, TransformSpec(), "center_crop"), cache)
        return X, y

    print("| backbone | " + " | ".join(tests) + " |\n|---|" + "---|" * len(tests))
    for name in args.backbones.split(";"):
        backbone = create_backbone(name)
        real_features = features(reals, backbone)[0]
        scaler = StandardScaler().fit(real_features)
        model = LedoitWolf().fit(scaler.transform(real_features))
        aucs = []
        for dataset in tests.values():
            X, y = features(dataset, backbone)
            aucs.append(compute_metrics(y, model.mahalanobis(scaler.transform(X)), n_bootstrap=0)["auc"])
        print(f"| `{name}` | " + " | ".join(f"{auc:.3f}" for auc in aucs) + " |", flush=True)


def _sample(root: Path, per_class: int | None = None) -> tuple[list[Path], list[int]]:
    """The first `per_class` files (sorted; all when None) of each class of a test set, and their labels."""
    paths, labels = [], []
    for label, folder in ((0, "real"), (1, "fake")):
        chosen = sorted((root / folder).iterdir())[:per_class]
        paths += chosen
        labels += [label] * len(chosen)
    return paths, labels


def _centre(path: Path, side: int) -> np.ndarray:
    return np.asarray(_centre_crop(load_rgb(path), side, side))


def command_spectra(args: argparse.Namespace) -> None:
    """Periodic decoder traces left in the test sets: the strongest peaks of the mean amplitude
    spectrum of a 3x3 high-pass residual (256 px centre crops), as (fy, fx, peak / local median).
    An 8x up-sampling decoder left intact shows peaks at multiples of 256 / 8 = 32."""
    from scipy.ndimage import median_filter, uniform_filter

    side = 256
    for name, root in TEST_SETS.items():
        paths, labels = _sample(root, args.per_class)
        for label in (0, 1):
            mean = 0.0
            chosen = [p for p, y in zip(paths, labels) if y == label]
            for path in chosen:
                grey = _centre(path, side).astype(np.float32).mean(2)
                mean = mean + np.abs(np.fft.fft2(grey - uniform_filter(grey, 3)))
            spectrum = np.fft.fftshift(mean / len(chosen))
            ratio = (spectrum / median_filter(spectrum, 9)).ravel()
            top = np.argsort(ratio)[::-1][:6]
            peaks = [(int(i // side - side // 2), int(i % side - side // 2), round(float(ratio[i]), 2)) for i in top]
            print(f"{name} {'fake' if label else 'real'}: {peaks}")


def command_reconstruction(args: argparse.Namespace) -> None:
    """AEROBLADE's cue with the five tiny autoencoders: AUC of minus the reconstruction error
    (an LDM's own images are reconstructed better), per autoencoder, on 128 px centre crops."""
    from deepfake_detect.generators import create_generator

    torch.set_num_threads(2)
    names = ["taesd", "taesdxl", "taesd3", "taef1", "taef2"]
    folder = SHARED / "weights" / "taesd"
    for name, root in TEST_SETS.items():
        paths, labels = _sample(root, args.per_class)
        images = torch.from_numpy(np.stack([_centre(p, 128) for p in paths])).permute(0, 3, 1, 2).float() / 255
        aucs = {}
        for generator in names:
            network = create_generator(generator, weights=folder).eval()
            with torch.no_grad():
                error = torch.cat([(network.reconstruct(b) - b).abs().mean(dim=(1, 2, 3)) for b in images.split(16)])
            aucs[generator] = round(compute_metrics(labels, -error.numpy(), n_bootstrap=0)["auc"], 3)
        print(f"{name}: AUC of -reconstruction error {aucs}")


def command_rigid(args: argparse.Namespace) -> None:
    """RIGID's cue with EfficientNet-Lite0 (pretrained): AUC of 1 - cos(embedding of x, of x plus
    Gaussian noise) as the fake score, for three noise levels, on 224 px resized centre squares."""
    from deepfake_detect.backbones import create_backbone

    torch.set_num_threads(2)
    backbone = create_backbone("efficientnet_lite0", "pretrained")
    network, info = backbone.network.eval(), backbone.info
    mean, std = torch.tensor(info.mean).view(1, 3, 1, 1), torch.tensor(info.std).view(1, 3, 1, 1)
    generator = torch.Generator().manual_seed(0)
    for name, root in TEST_SETS.items():
        paths, labels = _sample(root, args.per_class)
        squares = []
        for path in paths:
            image = load_rgb(path)
            side = min(image.size)
            squares.append(np.asarray(_centre_crop(image, side, side).resize((224, 224), Image.BICUBIC)))
        images = torch.from_numpy(np.stack(squares)).permute(0, 3, 1, 2).float() / 255
        aucs = {}
        with torch.no_grad():
            clean = torch.cat([network((b - mean) / std).flatten(1) for b in images.split(32)])
            for sigma in (0.02, 0.05, 0.1):
                noisy = torch.cat([network((b + sigma * torch.randn(b.shape, generator=generator) - mean) / std).flatten(1)
                                   for b in images.split(32)])
                score = 1 - F.cosine_similarity(clean, noisy)
                aucs[sigma] = round(compute_metrics(labels, score.numpy(), n_bootstrap=0)["auc"], 3)
        print(f"{name}: AUC of embedding instability under noise, by sigma {aucs}")


def method_label(row: dict) -> str:
    """A grid row's method as the report names it: the network for fine-tuned and reference
    detectors, `backbone + classifier` for frozen features."""
    return row["backbone"] if row["approach"] != "features" else f"{row['backbone']} + {row['classifier']}"


def command_ensemble(args: argparse.Namespace) -> None:
    """Rank-averaged ensembles of finished grid cells: for each test set, the AUC of every member
    (a method label, trained on `--train` when it is a frozen-feature method) and of the mean of
    the members' score ranks, from the per-image scores the grid saved. No model is run."""
    from scipy.stats import rankdata

    from deepfake_detect.runs.folder import scores_path
    from deepfake_detect.runs.ledger import Ledger

    run = Path(args.run)
    rows = [r for r in Ledger(run).done().values() if r["protocol"] != "lodo"]
    for test in args.tests.split(","):
        labels, ranks = None, []
        for member in args.member:
            found = [r for r in rows if r["test_dataset"] == test and method_label(r) == member
                     and (r["approach"] != "features" or r["train_dataset"] == args.train)]
            if len(found) != 1:
                sys.exit(f"{run}: {len(found)} cells of '{member}' tested on {test} (want exactly one)")
            saved = np.load(scores_path(run, found[0]["cell_id"]))
            if labels is not None and not np.array_equal(labels, saved["y_true"]):
                sys.exit(f"{run}: '{member}' was tested on other {test} images than the first member")
            labels = saved["y_true"]
            ranks.append(rankdata(saved["score"]))
            print(f"{test}: {member}: AUC {compute_metrics(labels, saved['score'], n_bootstrap=0)['auc']:.3f}")
        metrics = compute_metrics(labels, np.mean(ranks, axis=0))
        print(f"{test}: rank mean of {len(ranks)}: AUC {metrics['auc']:.3f} [{metrics['auc_low']:.3f}, {metrics['auc_high']:.3f}]")


def _cell(results: dict, key: str) -> str:
    row = results.get(key)
    return f"{row['auc']:.3f} [{row['auc_low']:.2f}-{row['auc_high']:.2f}]" if row else "-"


def command_table(args: argparse.Namespace) -> None:
    lines = ["| method | AUC faces | AUC t2i | mean | faces JPEG75 | t2i JPEG75 | s/epoch |", "|---|---|---|---|---|---|---|"]
    best, best_mean = None, -1.0
    for folder in sorted(p.parent for p in RUNS.glob("*/results.json") if p.parent.name != "best"):
        results = json.loads((folder / "results.json").read_text())
        mean = (results["faces/native"]["auc"] + results["t2i/native"]["auc"]) / 2
        history = json.loads((folder / "history.json").read_text()) if (folder / "history.json").is_file() else []
        cost = f"{np.mean([h['seconds'] for h in history]):.0f}" if history else "-"
        lines.append(f"| {folder.name} | {_cell(results, 'faces/native')} | {_cell(results, 't2i/native')} | {mean:.3f} | "
                     f"{_cell(results, 'faces/jpeg75')} | {_cell(results, 't2i/jpeg75')} | {cost} |")
        if (folder / "model.safetensors").is_file() and mean > best_mean:
            best, best_mean = folder, mean
    print("\n".join(lines))
    if args.best and best is not None:
        target = RUNS / "best"
        target.mkdir(exist_ok=True)
        atomic_write_bytes(target / "model.safetensors", (best / "model.safetensors").read_bytes())
        settings = json.loads((best / "settings.json").read_text()) | {"run": best.name, "mean_auc": best_mean}
        atomic_write_text(target / "settings.json", json.dumps(settings, indent=1))
        print(f"best: {best.name} (mean AUC {best_mean:.3f}) -> {target}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("make-dev-pairs")
    dev.add_argument("--source", default=str(SHARED / "data" / "imagenet-sample"))
    dev.add_argument("--out", default=str(ROOT / "runs" / "dev_pairs"))
    dev.add_argument("--n", type=int, default=200)
    run = commands.add_parser("train")
    run.add_argument("--pairs", default=str(ROOT / "runs" / "aligned"))
    run.add_argument("--residual", default="npr", choices=["npr", "median", "srm"])
    run.add_argument("--network", default="patchnet", help="patchnet, or a fine-tunable backbone (efficientnet_lite0)")
    run.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (1e-4 suits a pretrained backbone)")
    run.add_argument("--downscale-p", type=float, default=0.1, help="chance of down-scaling a pair by 1.1-2x")
    run.add_argument("--batch-pairs", type=int, default=16)
    run.add_argument("--jpeg-p", type=float, default=0.6, help="chance of JPEG 30-100 on a pair")
    run.add_argument("--match-spectrum", action="store_true", help="give each real crop its fake's radial spectrum")
    run.add_argument("--test-crop", type=int, default=128)
    run.add_argument("--name", required=True)
    run.add_argument("--no-jpeg-aug", action="store_true")
    run.add_argument("--epochs", type=int, default=6)
    run.add_argument("--crop", type=int, default=64)
    run.add_argument("--crops-per-epoch", type=int, default=3000)
    run.add_argument("--max-test-per-class", type=int, default=0)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--resume", action="store_true")
    ferret = commands.add_parser("ferretnet")
    ferret.add_argument("--max-test-per-class", type=int, default=0)
    statistics = commands.add_parser("statistics", help="AUC of simple image statistics alone, on the pairs and each test set")
    statistics.add_argument("--pairs", default=str(ROOT / "runs" / "aligned"))
    statistics.add_argument("--pairs-images", type=int, default=1000)
    crops = commands.add_parser("crops", help="a network detector's AUC by centre-crop size and over whole-image tiles")
    crops.add_argument("--detector", default=None, help="a detector folder (default: the built-in detector)")
    crops.add_argument("--sizes", default="64,96,128,192,256,512")
    crops.add_argument("--per-class", type=int, default=250)
    oneclass = commands.add_parser("oneclass", help="Mahalanobis distance from real photographs' features, no fakes seen")
    oneclass.add_argument("--backbones", default="npr_residual;median_residual;srm_residual;efficientnet_lite0@blocks=1,2,3;efficientnet_lite0",
                          help="';'-separated backbone names")
    oneclass.add_argument("--per-class", type=int, default=500)
    for command, text in (("spectra", "periodic peaks left in the test sets' residual spectra"),
                          ("reconstruction", "AEROBLADE's cue: AUC of the tiny autoencoders' reconstruction error"),
                          ("rigid", "RIGID's cue: AUC of embedding instability under noise")):
        commands.add_parser(command, help=text).add_argument("--per-class", type=int, default=100)
    ensemble = commands.add_parser("ensemble", help="rank-averaged ensembles of a grid run's saved scores")
    ensemble.add_argument("--run", default=str(ROOT / "runs" / "generalization_study"))
    ensemble.add_argument("--member", action="append", required=True, help="a method label as the report names it (repeat)")
    ensemble.add_argument("--train", default="aligned", help="the training set of frozen-feature members")
    ensemble.add_argument("--tests", default="faces,t2i")
    table = commands.add_parser("table")
    table.add_argument("--best", action="store_true", help="copy the best run's weights and settings to runs/generalization/best/")
    args = parser.parse_args(argv)
    if args.command == "make-dev-pairs":
        make_dev_pairs(Path(args.source), Path(args.out), args.n)
    else:
        {"train": command_train, "ferretnet": command_ferretnet, "table": command_table,
         "statistics": command_statistics, "crops": command_crops, "oneclass": command_oneclass, "spectra": command_spectra, "reconstruction": command_reconstruction,
         "rigid": command_rigid, "ensemble": command_ensemble}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
