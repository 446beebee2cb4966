"""The one image pipeline: real files, real decoding, real DataLoader workers."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from deepfake_detect.backbones import backbone_info, list_backbones
from deepfake_detect.data.loader import ImageTensors, collate, image_loader
from deepfake_detect.errors import UnknownNameError
from deepfake_detect.data.images import DECODE_VERSION
from deepfake_detect.transforms.preprocess import PATCH_COUNT, PREPROCESS_POLICIES, PREPROCESS_VERSION, Preprocessing

from conftest import make_real_fake_folder


@pytest.fixture
def files(tmp_path, bad_files):
    folder = make_real_fake_folder(tmp_path / "data", per_class=3, size=40, fmt="JPEG")
    good = sorted(folder.rglob("*.jpg"))
    shutil.copy(bad_files["text"], folder / "notes.jpg")
    return good[:3] + [folder / "notes.jpg"] + good[3:]


def small_preprocessing(policy="resize") -> Preprocessing:
    return Preprocessing(policy, 32, (0.5,) * 3, (0.25,) * 3)


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_keep_order_labels_and_name_bad_files(files, workers):
    prep = small_preprocessing()
    labels = [0, 0, 0, 1, 1, 1, 1]
    images = ImageTensors(files, prep.tensor_transform, labels=labels, draft_size=prep.draft_size)
    batches = list(image_loader(images, batch_size=3, workers=workers))
    assert [b.indices for b in batches] == [[0, 1, 2], [4, 5], [6]]
    assert [b.bad for b in batches][1][0][0] == 3
    assert str(files[3]) in batches[1].bad[0][1] and "not an image" in batches[1].bad[0][1]
    assert batches[1].images.shape == (2, 3, 32, 32) and batches[1].labels.tolist() == [1, 1]
    assert sum(b.covered for b in batches) == len(files)


def test_pil_images_and_a_per_image_transform(files):
    """PIL sources of any mode become RGB; the image transform sees each item's position."""
    seen = []

    def flip_odd(img, index):
        seen.append(index)
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if index % 2 else img

    photo = Image.open(files[0])
    sources = [photo, photo.convert("L"), photo]
    images = ImageTensors(sources, small_preprocessing("center_crop").tensor_transform, image_transform=flip_odd)
    batch = collate([images[i] for i in range(len(images))])
    assert seen == [0, 1, 2] and batch.labels is None and batch.bad == []
    assert torch.equal(batch.images[0], batch.images[2])
    assert torch.equal(batch.images[1][0], batch.images[1][2])  # grey became RGB
    assert not torch.equal(batch.images[0], batch.images[1])


def test_shuffled_loading_is_seeded(files):
    images = ImageTensors(files, small_preprocessing().tensor_transform)
    orders = [
        [b.indices + [i for i, _ in b.bad] for b in image_loader(images, 2, shuffle=True, seed=seed)]
        for seed in (3, 3, 4)
    ]
    assert orders[0] == orders[1] and orders[0] != orders[2]


@pytest.mark.parametrize("name", list_backbones())
@pytest.mark.parametrize("policy", PREPROCESS_POLICIES)
def test_preprocessing_derives_from_the_backbone(name, policy, files):
    info = backbone_info(name)
    prep = Preprocessing.for_backbone(info, policy)
    assert prep.draft_size == (info.input_size if policy == "resize" else None)
    assert prep.key.startswith(policy) and prep.key.endswith(f":{info.input_size}+decode:{DECODE_VERSION}+{PREPROCESS_VERSION}")
    tensor = prep.tensor_transform(Image.open(files[0]).convert("RGB"))
    crops = (PATCH_COUNT,) if policy == "patches" else ()  # patches: one image gives several crops
    assert tensor.shape == (*crops, 3, info.input_size, info.input_size) and tensor.dtype == torch.float32


def test_unknown_policy_is_a_named_error():
    with pytest.raises(UnknownNameError, match="unknown preprocessing 'stretch'; choose from: resize, center_crop, patches"):
        Preprocessing("stretch", 32, (0.5,) * 3, (0.25,) * 3)


def test_draft_decoding_is_used_only_when_resizing(tmp_path):
    """A large JPEG decodes at reduced size under `resize` (DCT scaling), in full otherwise."""
    path = tmp_path / "large.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512, 3), np.uint8)).save(path)
    sizes = {}
    for policy in PREPROCESS_POLICIES:
        prep = small_preprocessing(policy)
        decoded = []
        images = ImageTensors([path], prep.tensor_transform, draft_size=prep.draft_size,
                              image_transform=lambda img, i: decoded.append(img.size) or img)
        assert images[0].tensor.shape[-3:] == (3, 32, 32)
        sizes[policy] = decoded[0]
    assert sizes["center_crop"] == sizes["patches"] == (512, 512) and max(sizes["resize"]) < 512
