"""`Detector`: load a detector folder of any kind, score images, give verdicts.

This is the one scoring path for a saved detector: `predict`, `serve`, the grid's
`finetuned:` entries and a fine-tuning run's own evaluation all go through it, so the same
image gets the same score everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.images import DEFAULT_MAX_PIXELS, to_rgb
from ..errors import DetectorError, ModelRunError, UserError
from ..inference.choice import choose_runtime
from ..provenance import Provenance, ProvenanceReader, decide
from ..runtime import json_safe, torch_device
from .builtin import builtin_detector
from .kinds.features import DETECTOR_TRUSTED_TYPES
from .folder import DetectorFolder, read_detector_folder
from .kinds.base import ScoringModel

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

__all__ = ["DETECTOR_TRUSTED_TYPES", "Detector", "DetectorError", "Prediction", "json_safe"]

ImageTransform = Callable[["Image.Image", int], "Image.Image"]
LARGE_IMAGE_FACTOR = 4
"""Under `center_crop`, images whose short side is this many input sizes or more are noted."""
NOT_FINITE = "the model gave no finite score for this image in [0, 1] (NaN, infinity or out of range); no verdict"


def is_score(probability: float) -> bool:
    """A finite score in [0, 1]: what every kind's model gives, unless its file was crafted (an
    isotonic step at 5, a graph that adds 7). Anything else never becomes a verdict."""
    return math.isfinite(probability) and 0.0 <= probability <= 1.0


@dataclass(frozen=True)
class Prediction:
    """One image's outcome: a probability and verdict, or the reason it could not be scored."""

    index: int
    path: str | None
    probability: float | None
    verdict: str | None
    error: str | None = None
    note: str | None = None
    """A caveat that comes with the verdict, e.g. an image smaller than the detector's input."""
    evidence: str | None = None
    """What the verdict rests on, in a short sentence (provenance findings, then the pixel score)."""
    combined: float | None = None
    """`probability` raised by weak provenance evidence (bounded log-odds); equal to it without any."""
    provenance: dict[str, Any] | None = None
    """The structured findings (`Provenance.as_dict()`), carried in full by JSON output."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Detector:
    """A loaded detector: `Detector.load(folder).predict(images)`.

    `threshold` applies to the calibrated probability: above it the pixels alone make the
    verdict "likely generated". Every image read from a file also goes through the provenance
    stage (`provenance`, a `ProvenanceReader`; None turns it off), and the verdict comes from
    all the evidence (`provenance.decide`): never "real" on the strength of a pixel score.
    """

    def __init__(self, loaded: DetectorFolder, model: ScoringModel, runtime: str = "torch",
                 provenance: ProvenanceReader | None = None):
        self.runtime = runtime
        """"onnx" (ONNX Runtime, numpy inputs, no torch) or "torch"."""
        self.folder = loaded.path
        self.spec = loaded.manifest
        self.manifest = loaded.raw
        self.model = model
        self.threshold = loaded.manifest.threshold
        self._description = loaded.kind.describe(loaded.manifest, loaded.section)
        self.provenance = provenance

    @classmethod
    def load(
        cls, path: str | Path | None = None, device: str | torch.device | None = None, runtime: str = "auto",
        threads: int | None = None, provenance: ProvenanceReader | None | bool = True,
    ) -> Detector:
        """Verify and load a detector folder of any kind; raises `DetectorError` (one line).

        `path` None: the built-in detector shipped with the package (`detector.builtin`).
        `runtime`: "auto" runs the folder's ONNX graph on ONNX Runtime when the work is on the
        CPU (`device` "cpu", or None without CUDA), without importing torch; otherwise, and
        for folders without a graph, torch on `device`. "onnx" or "torch" force one.
        `threads`: ONNX Runtime's intra-op threads (default: every core this process may use).
        `provenance`: the reader for the provenance stage; True: one with the default settings
        (trust lists from DEEPFAKE_DETECT_TRUST_DIR if set, no network); False/None: pixels only.
        """
        loaded = read_detector_folder(builtin_detector() if path is None else path)
        has_graph = loaded.manifest.onnx is not None
        try:
            chosen = choose_runtime(runtime, None if device is None else str(device), has_graph)
        except UserError as exc:
            raise DetectorError(f"{loaded.path}: {exc}{_reexport_hint(loaded) if not has_graph else ''}") from None
        try:
            if chosen == "onnx":
                model = loaded.kind.load_onnx(loaded.manifest, loaded.section, loaded.files, threads)
            else:
                model = loaded.kind.load(loaded.manifest, loaded.section, loaded.files, torch_device(device))
        except DetectorError as exc:  # the kind names the file; add the folder
            raise type(exc)(f"{loaded.path}: {exc}") from None
        reader = ProvenanceReader() if provenance is True else (provenance or None)
        return cls(loaded, model, chosen, reader)

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def draft_size(self) -> int | None:
        return self.model.draft_size

    @property
    def input_size(self) -> int:
        return self.spec.preprocess.size

    def size_note(self, width: int, height: int) -> str | None:
        """A flag for images smaller than what the detector looks at: scored, but on less evidence.

        (CIFAKE's 32 px images are a legitimate use; a user must still see the caveat.) A network
        that reads only the central crop sees a small part of a large photograph: said too.
        """
        if min(width, height) < self.input_size:
            return f"small image: {width}x{height} px, below the detector's {self.input_size} px input; less evidence"
        if self.spec.preprocess.policy == "center_crop" and min(width, height) >= LARGE_IMAGE_FACTOR * self.input_size:
            share = self.input_size**2 / (width * height)
            return (f"large image: {width}x{height} px; the detector reads only the central "
                    f"{self.input_size}x{self.input_size} px ({share:.1%} of it)")
        return None

    def too_small(self, width: int, height: int) -> str | None:
        """Why an image is too small to judge at all, or None.

        A detector that looks at its input at native resolution (a centre crop, `center_crop`
        or `patches`) would see an image under half its input side mostly as padding; the
        built-in detector ranked 32 px CIFAKE backwards (AUC 0.32, 0.33 with mirror padding).
        Such an image gets no probability and no verdict. Detectors that resize their input
        score small images, with `size_note`'s caveat.
        """
        preprocess = self.spec.preprocess
        if preprocess.policy == "resize" or min(width, height) * 2 >= self.input_size:
            return None
        return (f"too small to judge: {width}x{height} px, under half the {self.input_size} px this detector "
                "looks at without resizing; no verdict")

    def verdict(self, probability: float, provenance: Provenance | None = None) -> str:
        """The verdict from the pixel score and any provenance findings (see `provenance.decide`);
        a NaN (or out-of-range) probability has no verdict."""
        if not is_score(probability):
            raise ValueError(NOT_FINITE)
        return decide(probability, self.threshold, provenance).verdict.value

    def read_provenance(self, item: Any) -> Provenance | None:
        """The provenance stage for one input: a path is read; a bare PIL image carries no file."""
        if self.provenance is None or not isinstance(item, str | Path):
            return None
        return self.provenance.read_path(item)

    def to_tensor(self, image: Image.Image) -> torch.Tensor | np.ndarray:
        """A decoded image as the model's input (for callers that decode themselves): a torch
        tensor on the torch runtime, a float32 array on ONNX Runtime, with the same numbers."""
        return self.model.to_tensor(to_rgb(image))

    def stack(self, inputs: Sequence[torch.Tensor | np.ndarray]) -> torch.Tensor | np.ndarray:
        """`to_tensor` results (or stacked batches of them, with `concat`) as one batch for
        `score_tensors`, in this runtime's array type."""
        if self.runtime == "onnx":
            import numpy as np

            return np.stack(inputs)
        import torch

        return torch.stack(list(inputs))

    def concat(self, batches: Sequence[torch.Tensor | np.ndarray]) -> torch.Tensor | np.ndarray:
        """Batches from `stack` joined into one."""
        if self.runtime == "onnx":
            import numpy as np

            return np.concatenate(batches)
        import torch

        return torch.cat(list(batches))

    def score_tensors(self, tensors: torch.Tensor | np.ndarray) -> np.ndarray:
        """P(fake) per input; a model that fails when run (a tampered graph that loads but asks
        for 10^12 elements, a classifier whose numbers overflow) is a `ModelRunError` with the
        reason in one line, which `predict` turns into error rows and `serve` into a 500."""
        try:
            return self.model.score_tensors(tensors)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # ONNX Runtime and scikit-learn raise many kinds at run time
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise ModelRunError(f"the detector's model failed when run ({type(exc).__name__}: {first})") from exc

    def score_pil(self, images: Sequence[Image.Image], batch_size: int = 32) -> np.ndarray:
        """P(fake) for each PIL image, in order."""
        import numpy as np

        scores = [
            self.score_tensors(self.stack([self.to_tensor(img) for img in images[start : start + batch_size]]))
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(scores) if scores else np.empty(0)

    def predict(
        self,
        images: str | Path | Image.Image | Iterable[str | Path | Image.Image],
        batch_size: int = 32,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> list[Prediction]:
        """Results for paths and/or PIL images, in order; unreadable files get an error."""
        from PIL import Image

        items = [images] if isinstance(images, str | Path | Image.Image) else list(images)
        return list(self._stream(items, batch_size, 0, max_pixels, None))

    def predict_paths(
        self,
        paths: Iterable[str | Path],
        batch_size: int = 32,
        workers: int = 0,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        image_transform: ImageTransform | None = None,
    ) -> Iterator[Prediction]:
        """Stream results in input order, one batch at a time.

        Decoding runs in `workers` DataLoader processes (torch) or threads (ONNX Runtime)
        while the model scores the previous batch; only a few batches are ever in memory,
        however many paths there are.
        `image_transform(img, index)` changes each decoded image before preprocessing (the
        test-time degradations of a robustness evaluation).
        """
        return self._stream([Path(p) for p in paths], batch_size, workers, max_pixels, image_transform)

    def _stream(
        self, items: list, batch_size: int, workers: int, max_pixels: int | None, image_transform: ImageTransform | None
    ) -> Iterator[Prediction]:
        """Score batch by batch; each batch's provenance is read on a side thread while the
        network scores it (c2pa and ONNX Runtime release the GIL), so the stage adds little.
        A model that fails when run gives each image of that batch an error row."""
        with ThreadPoolExecutor(1, thread_name_prefix="provenance") as side:
            for batch in self._batches(items, batch_size, workers, max_pixels, image_transform):
                indices = [*batch.indices, *(i for i, _ in batch.bad)]
                read = {i: side.submit(self.read_provenance, items[i]) for i in indices}
                try:
                    scores = self.score_tensors(batch.images) if batch.images is not None else []
                except ModelRunError as exc:
                    results = [self._unscored(i, items[i], str(exc), read[i].result()) for i in batch.indices]
                else:
                    results = [
                        self._unscored(i, items[i], refused, read[i].result()) if (refused := self.too_small(*size))
                        else self.scored(i, _name(items[i]), float(s), self.size_note(*size), read[i].result())
                        for i, s, size in zip(batch.indices, scores, batch.sizes)
                    ]
                results += [self._unscored(i, items[i], reason_only(error, items[i]), read[i].result())
                            for i, error in batch.bad]
                yield from sorted(results, key=lambda result: result.index)

    def _batches(
        self, items: list, batch_size: int, workers: int, max_pixels: int | None, image_transform: ImageTransform | None
    ) -> Iterable[Any]:
        """Batches with `.images`, `.indices`, `.sizes` and `.bad`, in this runtime's array type."""
        options = {"image_transform": image_transform, "max_pixels": max_pixels, "draft_size": self.draft_size}
        if self.runtime == "onnx":  # threads: no torch, and decoding overlaps the network
            from ..inference.batches import ArrayImages, prefetched_batches

            return prefetched_batches(ArrayImages(items, self.model.to_tensor, **options), batch_size, workers)
        from ..data.loader import ImageTensors, image_loader

        return image_loader(ImageTensors(items, self.model.to_tensor, **options), batch_size, workers)

    def _unscored(self, index: int, item: Any, error: str, provenance: Provenance | None) -> Prediction:
        """A file whose pixels could not be scored: an error row, unless its provenance still
        says something (a 1x1 crop that keeps its generator's metadata gets a verdict from it)."""
        if provenance is None or not provenance.says_something:
            return Prediction(index, _name(item), None, None, error)
        return self.scored(index, _name(item), None, f"pixels not scored: {error}", provenance)

    def scored(self, index: int, name: str | None, probability: float | None, note: str | None,
               provenance: Provenance | None) -> Prediction:
        """The one place a score and its provenance become a row (also used by `serve`); a score
        that is not a finite number in [0, 1] becomes an error row instead, never a verdict."""
        if probability is not None and not is_score(probability):
            return Prediction(index, name, None, None, NOT_FINITE)
        decision = decide(probability, self.threshold, provenance)
        return Prediction(index, name, probability, decision.verdict.value, note=note, evidence=decision.evidence,
                          combined=decision.combined, provenance=None if provenance is None else provenance.as_dict())

    @property
    def description(self) -> str:
        """What the model is, in the kind's words, e.g. "fine-tuned resnet50" or "rank ensemble of 3 patchnet_npr_s"."""
        return self._description

    def describe(self) -> str:
        """One line for logs and the serve banner."""
        return f"{self.folder.name}: {self._description}, threshold {self.threshold:.3f}"


def _reexport_hint(loaded: DetectorFolder) -> str:
    reason = loaded.raw.get("onnx_unavailable")
    if reason:
        return f" ({reason})"
    return (f"; it was saved before detectors carried ONNX: re-export it with "
            f"`python -c \"from deepfake_detect.detector import add_onnx; add_onnx('{loaded.path}')\"`")


def reason_only(error: str, item: Any) -> str:
    """The reason without the leading "path: ", which the result already carries."""
    prefix = f"{item}: "
    return error[len(prefix):] if error.startswith(prefix) else error


def _name(item: Any) -> str | None:
    return str(item) if isinstance(item, str | Path) else None
