"""make-fakes: aligned real/fake pairs from real photographs.

Each real image gives one centre crop (native resolution, no resampling); every generator
redraws that crop. Real and fake then share content, size and encoding, and differ only in
the generator's traces: the training material of the best-generalizing detectors
(AlignedForensics, ICLR 2025; B-Free; DRCT), which cannot learn content or file format.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import REAL, load_dataset
from ..data.images import file_image_id, is_image_path
from ..data.walk import walk_files
from ..errors import BadImage, DatasetError, OutputError, UserError
from ..generators import create_generator, generator_info
from ..generators.module import SIDE_MULTIPLE
from ..runtime import atomic_write_bytes
from .layout import PairFormat, PairSettings, SmallPolicy, check_settings, fake_path, real_path, write_manifest

DatasetSource = str | Path | list[str | Path]
WeightsOption = str | Path | Mapping[str, str | Path] | None
Progress = Callable[[int, int], None]
"""progress(images_just_finished, images_to_do): once with (0, total) before any work, then
after every batch; a bar can be sized from the first call."""


@dataclass
class FakesSummary:
    out: Path
    manifest: Path
    sources: int
    """Distinct real images considered (after `max_images`)."""
    reused: int
    """Sources whose crop and every fake were already in the folder (a resumed run)."""
    made: dict[str, int]
    """Fakes written by this run, per generator."""
    reals: int
    fakes: dict[str, int]
    """Pairs in the folder now (all runs): reals, and fakes per generator."""
    skipped: list[str] = field(default_factory=list)
    """One message per source not used, naming the file and why."""
    seconds: float = 0.0


@dataclass
class Job:
    path: Path
    image_id: str
    need_real: bool
    generators: list[str]


def make_fakes(
    reals: DatasetSource,
    out: str | Path,
    generators: Sequence[str],
    size: int = 256,
    weights: WeightsOption = None,
    *,
    image_format: PairFormat = "png",
    quality: int = 95,
    small: SmallPolicy = "skip",
    max_images: int | None = None,
    seed: int = 0,
    batch_size: int = 8,
    data_root: str | Path | None = None,
    progress: Progress | None = None,
    on_bad: Callable[[str], None] | None = None,
) -> FakesSummary:
    """Write aligned pairs to `out` (layout in `fakes.layout`) and return what was done.

    reals: a folder of photographs (every image below it; or, if it has real/fake folders,
    only the real ones), a CSV manifest, a named dataset, or a list of these.
    Crop: one centre crop of `size` x `size` (a multiple of 8) at native resolution; images
    larger than that are never resized. An image smaller than `size` on a side is skipped
    with a message (`small="skip"`, the default), or (`small="resize"`) scaled up bicubically
    until its short side is `size`, then cropped: note that this resampling smooths the real
    crop the same way for every pair, a trace of its own.
    Encoding: PNG (lossless) by default; `image_format="jpeg"` encodes real and fake alike at
    `quality`. weights: passed to every generator that needs weights (a folder holding them
    all), or a mapping generator -> weights; see `generators.create_generator`.
    max_images: a seeded sample of that many sources; a larger limit with the same seed
    extends a smaller one. seed: the sample's, and the generators' own (simulated kernels,
    random twins), so one folder keeps one seed.
    Resumable: a (source image, generator) whose file exists is not redone, and every file is
    written atomically. The manifest is rewritten from the files on disk after every batch
    and at the end (also after an interruption or an error), so a long run is usable while
    it goes.
    """
    started = time.perf_counter()
    plan = plan_fakes(reals, out, generators, size, weights, image_format=image_format, quality=quality,
                      small=small, max_images=max_images, seed=seed, data_root=data_root, on_bad=on_bad)
    networks = plan.built
    made = {name: 0 for name in plan.names}
    try:
        if progress:
            progress(0, len(plan.jobs))
        make_pairs(plan.jobs, plan.out, networks, plan.settings, batch_size, made, plan.skip, progress)
    finally:
        manifest, real_count, fake_counts = write_manifest(plan.out, plan.settings)
    return FakesSummary(
        plan.out, manifest, len(plan.sources), len(plan.sources) - len(plan.jobs), made, real_count, fake_counts,
        plan.skipped, time.perf_counter() - started,
    )


@dataclass
class FakesPlan:
    """What a make-fakes run will do, decided once by the driver (the local loop or a Ray job)."""

    out: Path
    settings: PairSettings
    names: list[str]
    weights: dict[str, str | Path | None]
    seed: int
    sources: list[tuple[Path, str]]
    jobs: list[Job]
    skipped: list[str]
    on_bad: Callable[[str], None] | None = None
    built: dict = field(default_factory=dict)
    """The generators, built by the driver (a Ray actor builds its own with `build_generators`)."""

    def skip(self, message: str) -> None:
        self.skipped.append(message)
        if self.on_bad:
            self.on_bad(message)


def build_generators(names: Sequence[str], weights: Mapping[str, str | Path | None], seed: int) -> dict:
    return {name: create_generator(name, weights[name], seed=seed) for name in names}


def plan_fakes(
    reals: DatasetSource, out: str | Path, generators: Sequence[str], size: int = 256, weights: WeightsOption = None,
    *, image_format: PairFormat = "png", quality: int = 95, small: SmallPolicy = "skip",
    max_images: int | None = None, seed: int = 0, data_root: str | Path | None = None,
    on_bad: Callable[[str], None] | None = None,
) -> FakesPlan:
    """Check everything and list what is left to make, before any pixel is decoded: settings,
    generator names and weights (every network is built once here, so a missing file fails
    now), the sample of sources, and the folder's recorded settings."""
    settings = _settings(size, image_format, quality, small)
    names = list(dict.fromkeys(generators))
    if not names:
        raise UserError("make-fakes needs at least one generator")
    for name in names:
        generator_info(name)  # an unknown name fails before any work
    out = Path(out)
    plan = FakesPlan(out, settings, names, {name: _weights_for(name, weights) for name in names}, seed, [], [], [],
                     on_bad)
    plan.sources = _sample(_distinct(real_images(reals, data_root), plan.skip), max_images, seed)
    plan.built = build_generators(names, plan.weights, seed)
    _prepare(out)
    check_settings(out, settings, {name: net.weights_id for name, net in plan.built.items()})
    plan.jobs = pending_jobs(plan.sources, out, names, settings)
    return plan


def real_images(reals: DatasetSource, data_root: str | Path | None = None) -> list[Path]:
    """The real images of a dataset source; a folder without real/fake labels counts whole."""
    dataset = load_dataset(reals, data_root)
    paths = [record.path for record in dataset.records if record.label == REAL]
    if not dataset.records and not isinstance(reals, list) and Path(reals).is_dir():
        paths = [path for path in walk_files(Path(reals)) if is_image_path(path)]
    if not paths:
        raise DatasetError(f"{reals}: no real images found")
    return paths


def _settings(size: int, image_format: str, quality: int, small: str) -> PairSettings:
    if size < SIDE_MULTIPLE or size % SIDE_MULTIPLE:
        raise UserError(f"--size {size}: must be a positive multiple of {SIDE_MULTIPLE} (generators downsample 8x)")
    if image_format not in ("png", "jpeg"):
        raise UserError(f"--format {image_format}: choose png or jpeg")
    if small not in ("skip", "resize"):
        raise UserError(f"small images: '{small}' is not skip or resize")
    if image_format == "jpeg" and not 1 <= quality <= 100:
        raise UserError(f"--quality {quality}: must be between 1 and 100")
    return PairSettings(size, image_format, quality if image_format == "jpeg" else None, small)  # type: ignore[arg-type]


def _distinct(paths: list[Path], skip: Callable[[str], None]) -> list[tuple[Path, str]]:
    """(path, content id) per readable file, the same picture only once."""
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            image_id = file_image_id(path)
        except OSError as exc:
            skip(f"{path}: cannot read ({exc.strerror or exc})")
            continue
        seen.setdefault(image_id, path)
    return [(path, image_id) for image_id, path in seen.items()]


def _sample(sources: list[tuple[Path, str]], max_images: int | None, seed: int) -> list[tuple[Path, str]]:
    """All sources, or a seeded sample of `max_images` that only grows when the limit does:
    the sources in a seeded shuffled order, cut after `max_images`. Work proceeds in that
    order, so an interrupted run leaves a random sample, not the first folders."""
    sources = sorted(sources, key=lambda source: str(source[0]))
    if max_images is None or len(sources) <= max_images:
        return sources
    random.Random(seed).shuffle(sources)
    return sources[:max_images]


def _weights_for(name: str, weights: WeightsOption) -> str | Path | None:
    if isinstance(weights, Mapping):
        return weights.get(name)
    return weights


def _prepare(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None


def pending_jobs(sources: list[tuple[Path, str]], out: Path, names: list[str], settings: PairSettings) -> list[Job]:
    """The sources with anything left to write: a finished pair is not decoded again."""
    jobs = []
    for path, image_id in sources:
        need_real = not real_path(out, image_id, settings).exists()
        todo = [name for name in names if not fake_path(out, name, image_id, settings).exists()]
        if need_real or todo:
            jobs.append(Job(path, image_id, need_real, todo))
    return jobs


def make_pairs(
    jobs: list[Job],
    out: Path,
    networks: dict,
    settings: PairSettings,
    batch_size: int,
    made: dict[str, int],
    skip: Callable[[str], None],
    progress: Progress | None = None,
    manifest: bool = True,
) -> None:
    """Decode, crop and redraw `jobs` batch by batch, writing each file atomically; the shared
    step of the local loop and of every Ray actor (which leaves the manifest to the driver)."""
    import torch

    from ..data.loader import ImageTensors, image_loader

    images = ImageTensors([job.path for job in jobs], _to_uint8_tensor, image_transform=_cropper(jobs, settings))
    for batch in image_loader(images, batch_size=batch_size):
        for _, message in batch.bad:
            skip(message)
        if batch.images is not None:
            batch_jobs = [jobs[i] for i in batch.indices]
            crops = batch.images
            for job, crop in zip(batch_jobs, crops):
                if job.need_real:
                    _write(real_path(out, job.image_id, settings), crop, settings)
            for name, network in networks.items():
                rows = [row for row, job in enumerate(batch_jobs) if name in job.generators]
                if not rows:
                    continue
                with torch.inference_mode():
                    redrawn = network(crops[rows].float() / 255)
                pixels = (redrawn * 255 + 0.5).to(torch.uint8)
                for row, image in zip(rows, pixels):
                    _write(fake_path(out, name, batch_jobs[row].image_id, settings), image, settings)
                    made[name] += 1
        if manifest:
            write_manifest(out, settings)
        if progress:
            progress(batch.covered, len(jobs))


def _cropper(jobs: list[Job], settings: PairSettings):
    """The one deterministic crop: centred, `size` square, at native resolution."""
    from PIL import Image

    size = settings.size

    def crop(image: Image.Image, index: int) -> Image.Image:
        width, height = image.size
        if min(width, height) < size:
            if settings.small == "skip":
                raise BadImage(f"{jobs[index].path}: {width}x{height} is smaller than the {size} px crop; skipped")
            scale = size / min(width, height)
            width, height = max(size, round(width * scale)), max(size, round(height * scale))
            image = image.resize((width, height), Image.Resampling.BICUBIC)
        left, top = (width - size) // 2, (height - size) // 2
        return image.crop((left, top, left + size, top + size))

    return crop


def _to_uint8_tensor(image):
    import torch

    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)


def _write(path: Path, pixels, settings: PairSettings) -> None:
    """Encode (3, H, W) uint8 pixels with the folder's one encoding and write atomically."""
    from PIL import Image

    image = Image.fromarray(pixels.permute(1, 2, 0).numpy())
    buffer = io.BytesIO()
    if settings.image_format == "jpeg":
        image.save(buffer, format="JPEG", quality=settings.quality)
    else:
        image.save(buffer, format="PNG")
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
