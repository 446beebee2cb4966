"""Adapting a network detector to a new generator with a few of its images.

What is trained: every weight of the network, for `steps` seeded Adam steps on batches drawn
with replacement from the k given images, with batch-norm statistics frozen (a handful of
images cannot estimate them) and an L2-SP penalty (Li et al., ICML 2018) pulling every weight
toward the original detector's. The penalty is what keeps the detector's behaviour on real
photographs when only fakes are given: without reals, the only force toward "real" is the
original weights. Reals are required: with fakes alone every image drifts toward "fake" (measured:
the built-in detector then called every ImageNet photograph fake). The threshold is recalibrated
on the given reals so that no larger a share of them is called fake than the original detector
called (nor more than its false-alarm target). Images given as both fakes and reals, and a
result that is not finite (a learning rate far too high), are refused.

Features detectors (a frozen backbone + classifier) are not adapted here: retrain them with
`train` on data that includes the new generator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.images import file_image_id, load_rgb
from ..errors import BadImage, DetectorError, UserError
from ..progress import progress_bar
from ..runtime import versions

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import torch

    from ..detector.folder import DetectorFolder

DEFAULT_TARGET_FPR = 0.05


def _two_class_logit(outputs: torch.Tensor) -> torch.Tensor:
    """log P(fake)/P(real) of a two-way softmax head."""
    return outputs[:, 1] - outputs[:, 0]


def _single_logit(outputs: torch.Tensor) -> torch.Tensor:
    return outputs.reshape(outputs.shape[0], -1)[:, 0]


def _rank_logit(outputs: torch.Tensor) -> torch.Tensor:
    """A rank ensemble's mean rank in (0, 1) read as log-odds; every member is fine-tuned, the
    reference ranks stay as they are (the threshold is then recalibrated on the given reals)."""
    import torch

    return torch.logit(outputs.float().reshape(-1).clamp(1e-4, 1 - 1e-4))


ADAPTABLE_KINDS: dict[str, Callable[[Any], Any]] = {
    "finetune": _two_class_logit, "reference": _single_logit, "ensemble": _rank_logit}
"""Detector kinds `adapt` can fine-tune, each with how its network's output becomes the log-odds of "fake"."""


@dataclass(frozen=True)
class AdaptSettings:
    steps: int = 30
    lr: float = 1e-4
    batch_size: int = 16
    l2sp: float = 0.1
    """Weight of sum((w - w_original)^2): higher keeps closer to the original detector."""
    seed: int = 0
    target_fpr: float | None = None
    """False-alarm target when recalibrating on reals (default: the detector's own, else 0.05)."""


@dataclass(frozen=True)
class Adapted:
    path: Path
    record: dict
    """What the new manifest's `adapted` entry holds."""
    threshold: float
    n_fakes: int
    n_reals: int
    skipped: list[str]


def adapt_detector(
    detector_dir: str | Path,
    fakes: Sequence[Path],
    reals: Sequence[Path] = (),
    output: str | Path = "adapted",
    settings: AdaptSettings = AdaptSettings(),
    on_bad: Callable[[str], None] = log.warning,
    extra: dict | None = None,
) -> Adapted:
    """Fine-tune the detector at `detector_dir` on `fakes` (+ `reals`) and save it at `output`."""
    import torch

    from ..detector.folder import read_detector_folder

    _check_fakes_and_reals(fakes, reals)
    loaded = read_detector_folder(detector_dir)
    if loaded.manifest.kind not in ADAPTABLE_KINDS:
        raise DetectorError(
            f"{loaded.path}: a {loaded.manifest.kind} detector; adapt works on network detectors "
            f"({', '.join(sorted(ADAPTABLE_KINDS))}): retrain a features detector with `train` on data including the new generator"
        )
    model = loaded.kind.load(loaded.manifest, loaded.section, loaded.files, torch.device("cpu"))
    skipped: list[str] = []
    fake_batch = _tensors(fakes, model.to_tensor, skipped, on_bad)
    real_batch = _tensors(reals, model.to_tensor, skipped, on_bad)
    if fake_batch is None:
        raise UserError("no usable fake image to adapt on")
    if real_batch is None:
        raise UserError("no usable real image to adapt on: " + REALS_NEEDED)
    from ..evaluate.metrics import threshold_for_fpr

    threshold = loaded.manifest.threshold
    before = np.asarray(model.score_tensors(real_batch))
    target = settings.target_fpr if settings.target_fpr is not None else _target_fpr(loaded.raw)
    # Keep the behaviour on real photographs: no larger a share of these reals called fake than before.
    target = min(target, float(np.mean(before > threshold)))
    _fine_tune(model.network, ADAPTABLE_KINDS[loaded.manifest.kind], fake_batch, real_batch, settings)
    scores = np.asarray(model.score_tensors(real_batch))
    if not all(bool(p.isfinite().all()) for p in model.network.parameters()) or not np.isfinite(scores).all():
        raise UserError(f"adaptation diverged (weights or scores are not finite) with --lr {settings.lr:g}; "
                        "use a smaller learning rate. Nothing was saved")
    threshold = float(min(max(threshold_for_fpr(scores, [0] * len(scores), target), 0.0), 1.0))
    record = {
        "from": {"folder": str(loaded.path), "files": dict(loaded.manifest.files), "threshold": loaded.manifest.threshold},
        "fakes": len(fake_batch), "reals": 0 if real_batch is None else len(real_batch),
        "images": sorted(file_image_id(p) for p in [*fakes, *reals] if str(p) not in skipped),
        "threshold": "recalibrated on the given reals",
        "target_fpr": target, "settings": asdict(settings), **(extra or {}),
    }
    path = _write(loaded, model, output, threshold, record)
    return Adapted(path, record, threshold, record["fakes"], record["reals"], skipped)


REALS_NEEDED = ("adapting needs real photographs as well as fakes (--reals DIR); trained on fakes alone a "
                "detector learns to call every image fake")


def _check_fakes_and_reals(fakes: Sequence[Path], reals: Sequence[Path]) -> None:
    """Refuse what cannot keep the behaviour on real photographs: no reals, or images under both labels."""
    if not reals:
        raise UserError(REALS_NEEDED)
    fake_ids = {file_image_id(p): p for p in fakes if Path(p).is_file()}
    both = [p for p in reals if Path(p).is_file() and file_image_id(p) in fake_ids]
    if both:
        raise UserError(f"{len(both)} image(s) are both in the fakes and in the reals (e.g. {both[0]}); "
                        "give two different sets")


def _target_fpr(raw: dict) -> float:
    validation = raw.get("validation") or {}
    value = validation.get("target_fpr") if isinstance(validation, dict) else None
    return float(value) if isinstance(value, int | float) and 0 <= value <= 1 else DEFAULT_TARGET_FPR


def _tensors(paths: Sequence[Path], to_tensor: Callable, skipped: list[str], on_bad: Callable[[str], None]):
    import torch

    tensors = []
    for path in paths:
        try:
            tensors.append(to_tensor(load_rgb(path)))
        except BadImage as exc:
            skipped.append(str(path))
            on_bad(f"{exc} (skipped)")
    return torch.stack(tensors) if tensors else None


def _fine_tune(network: torch.nn.Module, fake_logit: Callable, fakes: torch.Tensor, reals: torch.Tensor | None,
               settings: AdaptSettings) -> None:
    import torch
    import torch.nn.functional as F

    images = fakes if reals is None else torch.cat([fakes, reals])
    labels = torch.cat([torch.ones(len(fakes)), torch.zeros(0 if reals is None else len(reals))])
    original = [p.detach().clone() for p in network.parameters()]
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.lr)
    network.train()
    for module in network.modules():  # frozen statistics: a few images cannot estimate them
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    with torch.random.fork_rng(devices=[]), progress_bar("adapt", total=settings.steps, unit="step") as advance:
        torch.manual_seed(settings.seed)  # dropout masks
        for _ in range(settings.steps):
            pick = torch.randint(len(images), (min(settings.batch_size, len(images)),), generator=generator)
            batch = images[pick]
            flip = torch.rand(len(batch), generator=generator) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
            loss = F.binary_cross_entropy_with_logits(fake_logit(network(batch)).float(), labels[pick])
            penalty = sum(((p - p0) ** 2).sum() for p, p0 in zip(network.parameters(), original))
            optimizer.zero_grad()
            (loss + settings.l2sp * penalty).backward()
            optimizer.step()
            advance(1)
    network.eval()


def _write(loaded: DetectorFolder, model: Any, output: str | Path, threshold: float, record: dict) -> Path:
    from ..backbones.finetuned import weights_bytes
    from ..detector.folder import write_detector_folder
    from ..detector.onnx_export import FOLDER_KEYS, with_onnx
    from ..backbones.reference_networks import reference_network

    manifest = {k: v for k, v in loaded.raw.items() if k not in (*FOLDER_KEYS, "onnx", "onnx_unavailable")}
    manifest.update(threshold=threshold, adapted=record, versions=versions(),
                    created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    files = {"model.safetensors": weights_bytes(model.network)}
    reason = reference_network(loaded.manifest.backbone.name).onnx_unavailable if loaded.manifest.kind == "reference" else None
    if reason:
        manifest.update(onnx=None, onnx_unavailable=f"{reason}; this detector runs on torch")
    else:
        manifest, files = with_onnx(manifest, files, loaded.kind.exportable(model), loaded.manifest.preprocess.size,
                                    loaded.kind.onnx_output)
    return write_detector_folder(output, manifest, files)
