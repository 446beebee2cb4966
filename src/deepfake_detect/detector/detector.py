"""A trained detector as a folder, and `Detector`: load it, score images, give verdicts.

A detector folder holds `manifest.json` (everything needed to rebuild and audit the model)
and the fitted parts in formats that cannot run code when read: skops for the scikit-learn
part, loaded against an explicit list of trusted types, and safetensors for network weights.
The manifest records a sha256 of each model file, checked before anything is parsed, so a
tampered or swapped file is refused with one line instead of being half-loaded.

Two kinds share one interface: "features" (a frozen backbone, then a reduction, classifier
and calibrator; written by `train_detector`) and "finetune" (a fine-tuned network written
by `deepfake_detect.finetune`).
"""

from __future__ import annotations

from ..errors import DetectorError

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ..classify import TRUSTED_TYPES, fake_scores
from ..data.images import DEFAULT_MAX_PIXELS, BadImage, load_rgb, to_rgb
from ..transforms import build_preprocess

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.skops"
BACKBONE_FILE = "backbone.safetensors"
FORMAT_NAME = "deepfake_detect.detector"
FORMAT_VERSION = 1
KINDS = ("features", "finetune")

DETECTOR_TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)
"""What a calibrated model holds beyond the classify module's TRUSTED_TYPES (found by asking
skops which types of a `CalibratedClassifierCV(FrozenEstimator(...))` it does not trust by
default, for every registered classifier and both calibration methods)."""




@dataclass(frozen=True)
class Prediction:
    """One image's outcome: a probability and verdict, or the reason it could not be scored."""

    index: int
    path: str | None
    probability: float | None
    verdict: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ScoringModel(Protocol):
    """What each detector kind provides: image -> tensor, and a batch of tensors -> P(fake)."""

    to_tensor: Callable[[Image.Image], torch.Tensor]
    draft_size: int | None

    def score_tensors(self, tensors: torch.Tensor) -> np.ndarray: ...


# --- files: hashes, manifest, trusted skops ------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def json_safe(value: Any) -> Any:
    """NaN and infinity become null: strict JSON readers (browsers, FastAPI) refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise DetectorError(f"{folder}: not a folder (a detector is a folder holding {MANIFEST_FILE})")
    if not path.is_file():
        raise DetectorError(f"{path} not found: {folder} is not a detector folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DetectorError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise DetectorError(f"{path}: expected a JSON object")
    if manifest.get("kind") not in KINDS:
        raise DetectorError(f"{path}: unknown detector kind {manifest.get('kind')!r}; known: {', '.join(KINDS)}")
    return manifest


def verify_file(folder: Path, name: str, manifest: dict[str, Any]) -> bytes:
    """The file's bytes, after checking them against the manifest's sha256.

    Hashing the very bytes that are then parsed leaves no window for a swap in between.
    """
    expected = (manifest.get("files") or {}).get(name)
    path = folder / name
    if not expected:
        raise DetectorError(f"{folder / MANIFEST_FILE}: lists no sha256 for {name}; refusing an unverifiable file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DetectorError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != expected:
        raise DetectorError(
            f"{path}: sha256 does not match the manifest (the file was changed or replaced after "
            "the detector was saved); refusing to load it"
        )
    return data


def verify_listed_files(folder: Path, manifest: dict[str, Any]) -> None:
    for name in manifest.get("files") or {}:
        verify_file(folder, name, manifest)


def _all_trusted_types() -> list[str]:
    return sorted(set(TRUSTED_TYPES) | set(DETECTOR_TRUSTED_TYPES))


def _check_trusted(types: Iterable[str], context: str) -> None:
    unknown = sorted(set(types) - set(_all_trusted_types()))
    if unknown:
        raise DetectorError(f"{context}: holds types that are not trusted: {', '.join(unknown)}")


def estimator_bytes(estimator: Any) -> bytes:
    """skops bytes of `estimator`, refused now if loading would refuse them later."""
    import skops.io  # slow to import (it enumerates scikit-learn); only needed here

    data = skops.io.dumps(estimator)
    _check_trusted(skops.io.get_untrusted_types(data=data), "cannot save the model")
    return data


def load_trusted_estimator(data: bytes, name: str) -> Any:
    """Build the estimator only after every type in the file is known to be trusted."""
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # zipfile, JSON and schema errors of several kinds
        raise DetectorError(f"{name}: not a skops model file ({type(exc).__name__})") from None
    _check_trusted(untrusted, f"{name}: refusing to load")
    try:
        return skops.io.loads(data, trusted=_all_trusted_types())
    except Exception as exc:
        raise DetectorError(f"{name}: cannot be read as a model ({type(exc).__name__}: {exc})") from None


def write_detector_folder(folder: Path, manifest: dict[str, Any], files: dict[str, bytes]) -> Path:
    """Write files, then the manifest with their hashes, into a fresh folder, atomically.

    Everything goes to a temporary sibling first and is renamed into place at the end, so an
    interrupted save never leaves a folder that looks like a detector but is not one.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.saving-{os.getpid()}"
    if staging.exists():  # left by an interrupted save of this very process id
        shutil.rmtree(staging)
    staging.mkdir()  # not mkdtemp: the folder gets the usual permissions, not 0700
    for name, data in files.items():
        (staging / name).write_bytes(data)
    manifest = dict(manifest, files={name: hashlib.sha256(data).hexdigest() for name, data in files.items()})
    (staging / MANIFEST_FILE).write_text(json.dumps(json_safe(manifest), indent=2) + "\n", encoding="utf-8")
    if folder.exists():
        _remove_detector_folder(folder)
    os.replace(staging, folder)
    return folder


def _remove_detector_folder(folder: Path) -> None:
    """Remove an old detector being replaced; refuse to delete a folder that is something else."""
    known = {MANIFEST_FILE, MODEL_FILE, BACKBONE_FILE, "model.safetensors"}
    others = [p.name for p in folder.iterdir() if p.name not in known]
    if others:
        raise DetectorError(f"{folder}: exists and holds other files ({', '.join(others[:3])}); choose another folder")
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


# --- the two kinds --------------------------------------------------------------------------


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class FeatureModel:
    """Backbone features, then the calibrated reduction + classifier pipeline."""

    def __init__(self, backbone, estimator: Any, preprocess: str, device: torch.device):
        from ..features.extract import prepare_for_inference

        info = backbone.info
        self.device = device
        self.backbone = prepare_for_inference(backbone, device)
        self.estimator = estimator
        self.to_tensor = build_preprocess(preprocess, info.input_size, info.mean, info.std)
        self.draft_size = info.input_size if preprocess == "resize" else None

    @classmethod
    def load(cls, folder: Path, manifest: dict[str, Any], device: torch.device) -> FeatureModel:
        estimator = load_trusted_estimator(verify_file(folder, MODEL_FILE, manifest), str(folder / MODEL_FILE))
        if not hasattr(estimator, "predict_proba") or list(getattr(estimator, "classes_", [])) != [0, 1]:
            raise DetectorError(f"{folder / MODEL_FILE}: not a fitted real(0)/fake(1) classifier")
        backbone = _load_backbone(folder, manifest)
        return cls(backbone, estimator, manifest["preprocess"]["policy"], device)

    def score_tensors(self, tensors: torch.Tensor) -> np.ndarray:
        from ..features.extract import embed

        features = embed(self.backbone, tensors, self.device)
        return fake_scores(self.estimator, features).astype(np.float64)


def _load_backbone(folder: Path, manifest: dict[str, Any]):
    """The registered architecture, with the exact weights bundled in the folder (if any).

    Built from the registry without fetching anything, then every weight is overwritten
    strictly from backbone.safetensors: the detector works offline, whatever the source was.
    """
    from safetensors.torch import load as load_safetensors

    from ..backbones import Backbone, backbone_info

    spec = manifest.get("backbone") or {}
    try:
        info = backbone_info(str(spec.get("name")))
    except KeyError as exc:
        raise DetectorError(f"{folder / MANIFEST_FILE}: {exc.args[0]}") from None
    network = info.factory()
    if BACKBONE_FILE in (manifest.get("files") or {}):
        data = verify_file(folder, BACKBONE_FILE, manifest)
        try:
            network.load_state_dict(load_safetensors(data), strict=True)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise DetectorError(f"{folder / BACKBONE_FILE}: does not fit backbone '{info.name}': {first}") from None
    elif info.needs_weights:
        raise DetectorError(f"{folder}: backbone '{info.name}' needs weights but {BACKBONE_FILE} is not listed")
    return Backbone(info, network, str(spec.get("weights_id", "bundled"))).eval()


class FinetuneModel:
    """A fine-tuned network whose softmax gives P(fake) directly."""

    def __init__(self, network: torch.nn.Module, manifest: dict[str, Any], device: torch.device):
        from ..backbones import backbone_info

        defaults = backbone_info(manifest["arch"])
        size = int(manifest.get("input_size") or defaults.input_size)
        mean = tuple(manifest.get("mean") or defaults.mean)
        std = tuple(manifest.get("std") or defaults.std)
        policy = manifest.get("preprocess") or "resize"
        if isinstance(policy, dict):
            policy = policy.get("policy", "resize")
        self.device = device
        self.network = network.to(device).eval()
        self.to_tensor = build_preprocess(policy, size, mean, std)
        self.draft_size = size if policy == "resize" else None

    @classmethod
    def load(cls, folder: Path, manifest: dict[str, Any], device: torch.device) -> FinetuneModel:
        try:
            from ..finetune.network import load_finetuned
        except ImportError as exc:
            raise DetectorError(f"{folder}: fine-tuned detectors need deepfake_detect.finetune ({exc})") from None
        try:
            network, manifest = load_finetuned(folder)
        except Exception as exc:  # their loader's WeightsError, FileNotFoundError, KeyError...
            raise DetectorError(f"{folder}: cannot load the fine-tuned network: {_one_line(exc)}") from None
        return cls(network, manifest, device)

    def score_tensors(self, tensors: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            logits = self.network(tensors.to(self.device))
            return torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy().astype(np.float64)


def _one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__


# --- the detector ---------------------------------------------------------------------------


class _PathTensors(torch.utils.data.Dataset):
    """path -> (index, tensor or None, error): decoding in DataLoader workers, errors kept."""

    def __init__(self, paths: Sequence[Path], to_tensor, max_pixels: int | None, draft_size: int | None):
        self.paths, self.to_tensor, self.max_pixels, self.draft_size = paths, to_tensor, max_pixels, draft_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            return index, self.to_tensor(load_rgb(self.paths[index], self.max_pixels, self.draft_size)), None
        except BadImage as exc:
            return index, None, reason_only(exc, self.paths[index])


def reason_only(error: BadImage, path: str | Path) -> str:
    """The reason without the leading "path: ", which the result already carries."""
    text, prefix = str(error), f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _collate(batch):
    return batch


class Detector:
    """A loaded detector: `Detector.load(folder).predict(images)`.

    `threshold` applies to the calibrated probability: above it the verdict is "fake".
    """

    def __init__(self, folder: Path, manifest: dict[str, Any], model: ScoringModel):
        self.folder = folder
        self.manifest = manifest
        self.model = model
        self.threshold = float(manifest.get("threshold", 0.5))

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> Detector:
        """Verify and load a detector folder of either kind; raises `DetectorError`."""
        folder = Path(path).expanduser()
        manifest = read_manifest(folder)
        verify_listed_files(folder, manifest)
        device = torch.device(device) if device is not None else default_device()
        loader = FeatureModel if manifest["kind"] == "features" else FinetuneModel
        return cls(folder, manifest, loader.load(folder, manifest, device))

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def draft_size(self) -> int | None:
        return self.model.draft_size

    def verdict(self, probability: float) -> str:
        return "fake" if probability > self.threshold else "real"

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        """A decoded image as the model's input tensor (for callers that decode themselves)."""
        return self.model.to_tensor(to_rgb(image))

    def score_tensors(self, tensors: torch.Tensor) -> np.ndarray:
        return self.model.score_tensors(tensors)

    def score_pil(self, images: Sequence[Image.Image], batch_size: int = 32) -> np.ndarray:
        """P(fake) for each PIL image, in order."""
        scores = [
            self.score_tensors(torch.stack([self.to_tensor(img) for img in images[start : start + batch_size]]))
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(scores) if scores else np.empty(0)

    def predict(
        self, images: Iterable[str | Path | Image.Image], batch_size: int = 32, max_pixels: int | None = DEFAULT_MAX_PIXELS
    ) -> list[Prediction]:
        """Results for paths and/or PIL images, in order; unreadable files get an error."""
        items = [images] if isinstance(images, str | Path | Image.Image) else list(images)
        results: list[Prediction] = []
        for start in range(0, len(items), batch_size):
            chunk = list(enumerate(items[start : start + batch_size], start))
            decoded = [(index, item, *self._decode(item, max_pixels)) for index, item in chunk]
            results.extend(self._score_batch([(i, _name(item), x, err) for i, item, x, err in decoded]))
        return results

    def _decode(self, item: str | Path | Image.Image, max_pixels: int | None) -> tuple[torch.Tensor | None, str | None]:
        try:
            image = item if isinstance(item, Image.Image) else load_rgb(item, max_pixels, self.draft_size)
            return self.to_tensor(image), None
        except BadImage as exc:
            return None, reason_only(exc, str(item))

    def predict_paths(
        self,
        paths: Iterable[str | Path],
        batch_size: int = 32,
        workers: int = 0,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> Iterator[Prediction]:
        """Stream results in input order, one batch at a time.

        Decoding runs in `workers` DataLoader processes while the model scores the previous
        batch; only a few batches are ever in memory, however many paths there are.
        """
        paths = [Path(p) for p in paths]
        loader = DataLoader(
            _PathTensors(paths, self.model.to_tensor, max_pixels, self.draft_size),
            batch_size=batch_size,
            num_workers=workers,
            collate_fn=_collate,
            prefetch_factor=2 if workers else None,
        )
        for batch in loader:
            yield from self._score_batch([(index, str(paths[index]), x, error) for index, x, error in batch])

    def _score_batch(self, batch: list[tuple[int, str | None, torch.Tensor | None, str | None]]) -> list[Prediction]:
        good = [x for _, _, x, _ in batch if x is not None]
        scores = iter(self.score_tensors(torch.stack(good)) if good else [])
        results = []
        for index, name, tensor, error in batch:
            if tensor is None:
                results.append(Prediction(index, name, None, None, error))
            else:
                probability = float(next(scores))
                results.append(Prediction(index, name, probability, self.verdict(probability)))
        return results

    def describe(self) -> str:
        """One line for logs and the serve banner."""
        m = self.manifest
        if self.kind == "finetune":
            what = f"fine-tuned {m.get('arch')}"
        else:
            what = f"{m['backbone']['name']} + {m['reduction']['name']} + {m['classifier']['name']}"
        return f"{self.folder.name}: {what}, threshold {self.threshold:.3f}"


def _name(item: Any) -> str | None:
    return None if isinstance(item, Image.Image) else str(item)

