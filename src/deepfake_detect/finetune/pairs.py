"""Aligned pairs for `finetune --paired`: a group's real image and one of its fakes, side by side.

A group (the manifest's `group` column; `make-fakes` writes one per real photo) is one real
image and the fakes that generators redrew from it, all of one size. Drawn image by image, a
real and its fake land in different batches with different crops, blur and JPEG, so some of
what tells them apart is the augmentation. Paired, each training item is a whole group: its real
and ONE of its fakes (a fresh choice each epoch, from the epoch's seed), decoded together and
given one draw of the training transform (the same crop position, flip, blur sigma, JPEG
quality and down-scaling), and batches hold whole pairs. The only difference left between the
two is the generator's.

Splits are already group-disjoint (evaluate.splits); validation and test stay image by image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset as TorchDataset

from ..data import ImageRecord
from ..data.images import load_rgb
from ..data.loader import ImageBatch, LoadedImage, collate
from ..errors import BadImage, FinetuneError

PAIRS_HINT = "a CSV manifest with a group column, such as make-fakes writes to OUT/manifest.csv"


@dataclass(frozen=True)
class PairGroup:
    name: str
    real: ImageRecord
    fakes: tuple[ImageRecord, ...]


def pair_groups(records: Sequence[ImageRecord], source: str) -> list[PairGroup]:
    """The groups of `records` in order of first appearance; a one-line `FinetuneError` unless
    every image has a group and every group holds exactly one real image and at least one fake."""
    members: dict[str, list[ImageRecord]] = {}
    for record in records:
        if record.group is not None:
            members.setdefault(record.group, []).append(record)
    ungrouped = len(records) - sum(map(len, members.values()))
    if not members:
        raise FinetuneError(f"--paired needs aligned pairs, but {source} has no groups ({PAIRS_HINT})")
    if ungrouped:
        raise FinetuneError(f"--paired needs every image in a group, but {ungrouped} of {len(records)} images "
                            f"in {source} have none ({PAIRS_HINT})")
    groups, broken = [], []
    for name, rows in members.items():
        reals = [r for r in rows if r.label == 0]
        fakes = tuple(r for r in rows if r.label != 0)
        if len(reals) == 1 and fakes:
            groups.append(PairGroup(name, reals[0], fakes))
        else:
            broken.append(f"group '{name}' has {len(reals)} real and {len(fakes)} fake")
    if broken:
        raise FinetuneError(f"--paired needs one real image and at least one fake in every group, but {len(broken)} "
                            f"of {len(members)} groups in {source} do not: {broken[0]}")
    return groups


PairTransform = Callable[[Image.Image, Image.Image], tuple[torch.Tensor, torch.Tensor]]


class PairTensors(TorchDataset):
    """Item i -> (real, fake) `LoadedImage`s of group i, positions 2i and 2i+1: both decoded,
    then transformed by one call (`augment.build_train_transform` augments them alike).

    The fake is the one `for_epoch(seed)` chose. When either image cannot be used (or the two
    differ in size), neither is: both come back without a tensor, so a batch keeps whole pairs.
    """

    def __init__(self, groups: Sequence[PairGroup], transform: PairTransform, *, max_pixels: int | None,
                 draft_size: int | None = None, choices: Sequence[int] | None = None):
        self.groups = list(groups)
        self.transform = transform
        self.max_pixels, self.draft_size = max_pixels, draft_size
        self.choices = list(choices) if choices is not None else [0] * len(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def n_images(self) -> int:
        return 2 * len(self.groups)

    def for_epoch(self, seed: int) -> PairTensors:
        """The same pairs with each group's fake drawn from `seed` (the epoch's seed)."""
        rng = np.random.default_rng(seed)
        choices = [int(rng.integers(len(group.fakes))) for group in self.groups]
        return PairTensors(self.groups, self.transform, max_pixels=self.max_pixels, draft_size=self.draft_size,
                           choices=choices)

    def pair(self, index: int) -> tuple[ImageRecord, ImageRecord]:
        group = self.groups[index]
        return group.real, group.fakes[self.choices[index]]

    def __getitem__(self, index: int) -> tuple[LoadedImage, LoadedImage]:
        records = self.pair(index)
        images = []
        for k, record in enumerate(records):
            try:
                images.append(load_rgb(record.path, self.max_pixels, self.draft_size))
            except BadImage as exc:
                return self._unusable(index, records, k, str(exc))
        real, fake = images
        if real.size != fake.size:
            return self._unusable(index, records, 1, f"{records[1].path}: {fake.width}x{fake.height}, but its real "
                                  f"image {records[0].path} is {real.width}x{real.height} (a pair has one size)")
        tensors = self.transform(real, fake)
        return (LoadedImage(2 * index, tensors[0], records[0].label, size=real.size),
                LoadedImage(2 * index + 1, tensors[1], records[1].label, size=fake.size))

    @staticmethod
    def _unusable(index: int, records: tuple[ImageRecord, ImageRecord], culprit: int,
                  reason: str) -> tuple[LoadedImage, LoadedImage]:
        partner = records[1 - culprit]
        errors = {culprit: reason, 1 - culprit: f"{partner.path}: left out with its pair ({records[culprit].path})"}
        return (LoadedImage(2 * index, None, records[0].label, errors[0]),
                LoadedImage(2 * index + 1, None, records[1].label, errors[1]))


def collate_pairs(items: Sequence[tuple[LoadedImage, LoadedImage]]) -> ImageBatch:
    """A batch of whole pairs, real then fake, in order (a pair is usable or not as one)."""
    return collate([image for pair in items for image in pair])
