"""Diagnostics of the generalization study: what the test sets and a detector respond to.
No training here: detectors come from `deepfake-detect finetune --paired` (see studies/README.md)
and are scored with `studies/score.py`.

    python studies/diagnostics.py statistics --pairs runs/aligned128   # AUC of simple image statistics alone
    python studies/diagnostics.py crops [--detector DIR]                # where a network detector looks
    python studies/diagnostics.py oneclass                              # distance from real photographs only
    python studies/diagnostics.py ensemble --run RUN --member LABEL ... # rank means of a grid run's scores
    python studies/diagnostics.py spectra|reconstruction|rigid [--per-class 100]
                                                  # training-free cues: decoder peaks, AEROBLADE, RIGID

Every command takes `--data-root` (the folder holding faces-stylegan2, t2i-scenes,
imagenet-sample; default: env DEEPFAKE_DETECT_DATA, else ../shared/data beside the checkout)
and `--weights-root` (taesd/ for `reconstruction`; default ../shared/weights).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from deepfake_detect.data.datasets import load_dataset
from deepfake_detect.data.images import load_rgb
from deepfake_detect.evaluate.metrics import compute_metrics

ROOT = Path(__file__).resolve().parent.parent
TEST_SET_NAMES = {"faces": "faces-stylegan2", "t2i": "t2i-scenes"}
DATA = Path(os.environ.get("DEEPFAKE_DETECT_DATA", ROOT.parent / "shared" / "data"))
WEIGHTS = ROOT.parent / "shared" / "weights"
TEST_SETS: dict[str, Path] = {}
"""Set by `main` from --data-root."""


def _centre_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))



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
    reals = Dataset("imagenet-sample", [ImageRecord(p, 0) for p in image_files(DATA / "imagenet-sample")])
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
    folder = WEIGHTS / "taesd"
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



def main(argv: list[str] | None = None) -> None:
    global DATA, WEIGHTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DATA)
    parser.add_argument("--weights-root", type=Path, default=WEIGHTS)
    commands = parser.add_subparsers(dest="command", required=True)
    statistics = commands.add_parser("statistics", help="AUC of simple image statistics alone, on the pairs and each test set")
    statistics.add_argument("--pairs", default=str(ROOT / "runs" / "aligned128"))
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
    args = parser.parse_args(argv)
    DATA, WEIGHTS = args.data_root, args.weights_root
    TEST_SETS.update({short: DATA / name for short, name in TEST_SET_NAMES.items()})
    {"statistics": command_statistics, "crops": command_crops, "oneclass": command_oneclass, "spectra": command_spectra,
     "reconstruction": command_reconstruction, "rigid": command_rigid, "ensemble": command_ensemble}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
