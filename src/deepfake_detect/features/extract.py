"""Streaming feature extraction into the cache.

Each batch is written to the cache as it finishes, so memory stays flat however large the
dataset, and an interrupted run resumes where it stopped. Bad files are skipped with a warning
that names them, and listed in the returned report.

On a GPU, images are decoded in DataLoader worker processes while the model runs on the
previous batch. On a CPU the same cores must do both, so extraction is data-parallel instead:
`workers` threads each decode *and* embed whole batches, with `cores // workers` torch threads
each (one on a 2-core machine). Decoding, resizing and torch ops release the GIL, so the
threads run in parallel; nothing crosses a process boundary, and there is neither
oversubscription (decoding processes beside the model's OpenMP threads) nor OpenMP barriers
across cores. The model that runs is a copy with its batch norms folded into the convolutions
(`inference_copy`). Measured on 2 shared cores against the worker-process design (median of 3,
benchmarks/README.md): EfficientNet-Lite0 1.7x from the threads and 1.2x more from folding,
ResNet-50 1.2x, ViT-B/16 1.2-1.5x; features equal to ~1e-6 relative (folding's rounding).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.fx
from PIL import Image
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..backbones.module import Backbone
from ..data.datasets import Dataset
from ..data.images import DEFAULT_MAX_PIXELS
from ..data.loader import ImageBatch, ImageTensors, collate, image_loader
from ..runtime import best_device, cpu_cores, default_workers
from ..transforms.degrade import Degradation
from ..transforms.perturb import TransformSpec, apply_transform
from ..transforms.preprocess import Preprocessing, PreprocessPolicy, embed_crops
from .cache import FeatureCache, FeatureSpace
from .fusion import FusedSpace, member_spaces

__all__ = [  # default_workers: re-exported for callers that tune extraction's parallelism
    "ExtractionReport", "extract_features", "feature_space", "load_features", "embed", "inference_copy",
    "prepare_for_inference", "cpu_parallelism", "default_workers", "best_device",
]


@dataclass
class ExtractionReport:
    space: FeatureSpace
    total: int
    cached: int
    extracted: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.extracted / self.seconds if self.seconds else 0.0


def cpu_parallelism(workers: int) -> tuple[int, int]:
    """(batches embedded at once, torch threads for each) for CPU extraction with `workers`."""
    cores = cpu_cores()
    streams = max(1, min(workers, cores))
    return streams, max(1, cores // streams)


@dataclass(frozen=True)
class SeededImageTransform:
    """The loader's per-image step for extraction: `transform` seeded by each image's id, then
    the test-time `degradation` (a class rather than a closure, so DataLoader workers can
    receive it)."""

    transform: TransformSpec
    image_ids: Sequence[str]
    degradation: Degradation | None = None

    def __call__(self, img: Image.Image, index: int) -> Image.Image:
        img = apply_transform(img, self.transform, self.image_ids[index])
        return self.degradation.apply(img) if self.degradation is not None else img


def extraction_images(
    items: Sequence[tuple[Path, str]],
    backbone: Backbone,
    transform: TransformSpec,
    preprocess: PreprocessPolicy,
    degradation: Degradation | None,
    max_pixels: int | None,
) -> ImageTensors:
    """(path, image id) items as the loader's dataset, preprocessed for `backbone`.

    JPEGs are draft-decoded (scaled down by the decoder) only when nothing else touches the
    pixels first: a blur sigma or a degradation is defined on the original image, and a
    draft-decoded large photo would otherwise be blurred several times more than a small one.
    """
    prep = Preprocessing.for_backbone(backbone.info, preprocess)
    degradation = _effective(degradation)
    per_image = None
    if transform.name != "none" or degradation is not None:
        per_image = SeededImageTransform(transform, [image_id for _, image_id in items], degradation)
    return ImageTensors(
        [path for path, _ in items],
        prep.tensor_transform,
        image_transform=per_image,
        max_pixels=max_pixels,
        draft_size=prep.draft_size if per_image is None else None,
    )


def _effective(degradation: Degradation | None) -> Degradation | None:
    """None for no degradation and for those that leave pixels as they are (blur 0, scale 1)."""
    return None if degradation is None or degradation.is_identity else degradation


def prepare_for_inference(backbone: Backbone, device: torch.device) -> Backbone:
    """channels_last lets oneDNN (CPU) and cuDNN pick their fast convolution kernels:
    measured 2x on EfficientNet-Lite0 on this project's 2-core CPU."""
    return backbone.to(device, memory_format=torch.channels_last).eval()


class _ConvLeafTracer(torch.fx.Tracer):
    """Convolutions (including subclasses such as EfficientNet-Lite's same-padding ones) and
    batch norms stay single nodes, so that conv -> BN pairs can be found in the graph."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, (nn.Conv2d, nn.BatchNorm2d)) or super().is_leaf_module(module, qualified_name)


def fold_batch_norms(network: nn.Module) -> tuple[nn.Module, int]:
    """`network` with every eval-mode BatchNorm2d that directly follows a Conv2d (and is that
    convolution's only user) folded into the convolution's weights and bias; and how many.

    Returns `network` itself, untouched, when there is nothing to fold or it cannot be traced.
    The output differs from the original by float rounding only (~1e-7 relative).
    """
    if not any(isinstance(m, nn.BatchNorm2d) for m in network.modules()):
        return network, 0
    try:
        graph = _ConvLeafTracer().trace(network)
    except Exception:  # dynamic control flow and the like: run it as it is
        return network, 0
    folded = torch.fx.GraphModule(network, graph)  # shares the original's submodules
    modules = dict(folded.named_modules())
    count = 0
    for node in list(folded.graph.nodes):
        bn = modules.get(node.target) if node.op == "call_module" else None
        if not isinstance(bn, nn.BatchNorm2d) or bn.training or not bn.track_running_stats:
            continue
        if len(node.args) != 1 or node.kwargs:
            continue
        source = node.args[0]
        conv = modules.get(source.target) if isinstance(source, torch.fx.Node) and source.op == "call_module" else None
        if not isinstance(conv, nn.Conv2d) or len(source.users) != 1:
            continue
        parent, _, name = source.target.rpartition(".")
        setattr(folded.get_submodule(parent) if parent else folded, name, fuse_conv_bn_eval(conv, bn))
        node.replace_all_uses_with(source)
        folded.graph.erase_node(node)
        count += 1
    if not count:
        return network, 0
    folded.graph.lint()
    folded.delete_all_unused_submodules()
    folded.recompile()
    return folded, count


def inference_copy(backbone: Backbone, device: torch.device) -> Backbone:
    """What `extract_features` runs: a copy of `backbone` with its batch norms folded into the
    convolutions before them (measured 23% less CPU time per image for EfficientNet-Lite0 and
    ~6% for ResNet-50 on one core), prepared for `device`. The caller's backbone is untouched."""
    network, count = fold_batch_norms(backbone.network.eval())
    if count:  # the graph module shares the unfolded layers with the caller's: copy them
        backbone = Backbone(backbone.info, copy.deepcopy(network), backbone.weights_id).eval()
    return prepare_for_inference(backbone, device)


def embed(backbone: Backbone, tensors: torch.Tensor, device: torch.device) -> np.ndarray:
    """Vectors of a batch of images (B, 3, H, W), or of crops (B, N, 3, H, W): the mean of each
    image's crop vectors (the `patches` policy)."""

    def run(images: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            images = images.to(device, non_blocking=True, memory_format=torch.channels_last)
            return backbone(images).float().cpu().numpy()

    return embed_crops(run, tensors)


def feature_space(
    backbone: Backbone,
    transform: TransformSpec,
    preprocess: PreprocessPolicy,
    degradation: Degradation | None = None,
) -> FeatureSpace:
    """What identifies these features in a cache. Degradations that leave pixels unchanged
    (blur 0, downscale 1) share the undegraded space: nothing is extracted twice."""
    degradation = _effective(degradation)
    return FeatureSpace(
        backbone=backbone.name,
        weights_id=backbone.weights_id,
        transform=transform.key(),
        preprocess=Preprocessing.for_backbone(backbone.info, preprocess).key,
        dim=backbone.info.embed_dim,
        degradation=degradation.key() if degradation is not None else "none",
    )


def extract_features(
    dataset: Dataset,
    backbone: Backbone,
    cache: FeatureCache,
    transform: TransformSpec | None = None,
    preprocess: PreprocessPolicy = "resize",
    batch_size: int = 64,
    workers: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: Callable[[int], None] | None = None,
    on_bad: Callable[[str], None] | None = None,
    degradation: Degradation | None = None,
    runtime: str = "auto",
) -> ExtractionReport:
    """Fill the cache with every image of `dataset` not yet in it; return what happened.

    `degradation` (test images of the robustness protocol) is applied after `transform`.
    `runtime`: "auto" embeds on ONNX Runtime on a CPU for the backbones where it was measured
    faster and its features agree with torch's to 1e-5 (so the cache key is the same);
    "torch" always uses torch; "onnx" insists.
    `progress(n)` is called after each batch with the number of images it covered;
    `on_bad(message)` once per unusable file, as soon as it is found.
    """
    transform = transform or TransformSpec()
    space = feature_space(backbone, transform, preprocess, degradation)
    cache.register(space)
    ids = dataset.ids
    todo_ids = cache.missing(space, ids)
    items, seen = [], set()
    for record, image_id in zip(dataset.records, ids):
        if image_id in todo_ids and image_id not in seen:
            seen.add(image_id)
            items.append((record.path, image_id))
    report = ExtractionReport(space, total=len(set(ids)), cached=len(set(ids)) - len(items))
    if not items:
        return report
    device = best_device()
    images = extraction_images(items, backbone, transform, preprocess, degradation, max_pixels)
    workers = default_workers() if workers is None else workers
    embedder = choose_embedder(backbone, device, runtime, cache.directory / "onnx", cpu_parallelism(max(workers, 1))[1])
    started = time.perf_counter()
    if device.type == "cpu" and workers > 0:
        results = _embedded_in_threads(images, embedder, batch_size, workers)
    else:
        results = _embedded_here(images, embedder, batch_size, workers)
    with closing(results):
        for indices, vectors, bad in results:
            for index, reason in bad:
                report.bad.append((str(items[index][0]), reason))
                if on_bad:
                    on_bad(reason)
            if vectors is not None:
                cache.put(space, [items[i][1] for i in indices], vectors)
                report.extracted += len(indices)
            if progress:
                progress(len(indices) + len(bad))
    report.seconds = time.perf_counter() - started
    return report


Embedded = tuple[list[int], np.ndarray | None, list[tuple[int, str]]]
Embedder = Callable[[torch.Tensor], np.ndarray]


def choose_embedder(backbone: Backbone, device: torch.device, runtime: str, graphs: Path, threads: int) -> Embedder:
    """Images -> feature vectors: the backbone's cached ONNX graph on ONNX Runtime where that
    is faster and agrees with torch (see inference.graphs), else the batch-norm-folded torch copy."""
    from ..inference.choice import choose_runtime
    from ..inference.graphs import backbone_graph

    if choose_runtime(runtime, device.type) == "onnx":
        graph = backbone_graph(backbone, graphs, threads)
        if graph is not None:
            return lambda tensors: embed_crops(graph, tensors.numpy())
    model = inference_copy(backbone, device)
    return lambda tensors: embed(model, tensors, device)


def _embedded(batch: ImageBatch, embedder: Embedder) -> Embedded:
    vectors = embedder(batch.images) if batch.images is not None else None
    return batch.indices, vectors, batch.bad


def _embedded_here(images: ImageTensors, embedder: Embedder, batch_size: int, workers: int) -> Iterator[Embedded]:
    """The model in this thread; decoding in `workers` DataLoader processes (GPU, or workers=0)."""
    for batch in image_loader(images, batch_size, workers, prefetch=4):
        yield _embedded(batch, embedder)


def _balanced_chunks(n: int, batch_size: int, streams: int) -> list[range]:
    """At most `batch_size` items each, in a number of chunks that `streams` divides, so that no
    stream idles through the last round (96 images, batch 64, 2 streams: 2 x 48, not 64 + 32)."""
    count = math.ceil(math.ceil(n / batch_size) / streams) * streams
    size = math.ceil(n / count)
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


def _embedded_in_threads(images: ImageTensors, embedder: Embedder, batch_size: int, workers: int) -> Iterator[Embedded]:
    """CPU: `streams` threads each decode and embed whole batches; results in order.

    torch's intra-op thread count is process-wide: it is set to cores // streams for the run
    and restored afterwards. Threads rather than processes: a forked DataLoader worker must
    keep to one OpenMP thread (libgomp hangs in a child that opens a team after its parent
    did), and would receive images, not features, over the pipe.
    """
    streams, threads = cpu_parallelism(workers)
    chunks = _balanced_chunks(len(images), batch_size, streams)

    def decode_and_embed(chunk: range) -> Embedded:
        return _embedded(collate([images[i] for i in chunk]), embedder)

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    pool = ThreadPoolExecutor(streams, thread_name_prefix="extract")
    pending: list[Future] = []
    try:
        upcoming = iter(chunks)
        for chunk in upcoming:  # one queued beyond the running ones, so no thread waits on us
            pending.append(pool.submit(decode_and_embed, chunk))
            if len(pending) > streams:
                break
        while pending:
            result = pending.pop(0).result()
            chunk = next(upcoming, None)
            if chunk is not None:
                pending.append(pool.submit(decode_and_embed, chunk))
            yield result
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        torch.set_num_threads(previous)


def load_features(
    dataset: Dataset, space: FeatureSpace | FusedSpace, cache: FeatureCache
) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    """(X, y, image ids, record indices) for the images of `dataset` that have features.

    Images that could not be read have none and are left out; the indices say which
    records the rows belong to. A fused space's rows are its members' vectors side by side,
    for the images every member has.
    """
    ids = dataset.ids
    parts = member_spaces(space)
    absent = set().union(*(cache.missing(part, ids) for part in parts))
    keep = [i for i, image_id in enumerate(ids) if image_id not in absent]
    kept_ids = [ids[i] for i in keep]
    X = np.hstack([cache.get(part, kept_ids) for part in parts])
    y = np.array([dataset.records[i].label for i in keep], dtype=np.int64)
    return X, y, kept_ids, keep
