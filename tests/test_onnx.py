"""ONNX Runtime inference: exported graphs agree with torch, detectors score on it without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepfake_detect.backbones import backbone_info, create_backbone, list_backbones
from deepfake_detect.backbones.finetuned import build_finetune_network, weights_bytes
from deepfake_detect.detector import Detector, add_onnx, finetuned_with_onnx
from deepfake_detect.train import TrainingPlan, train_detector
from deepfake_detect.detector.folder import write_detector_folder
from deepfake_detect.errors import DetectorError, UserError
from deepfake_detect.inference.batches import ArrayImages, prefetched_batches
from deepfake_detect.inference.choice import choose_runtime
from deepfake_detect.inference.export import export_onnx
from deepfake_detect.inference.graphs import backbone_graph
from deepfake_detect.transforms.preprocess import ArrayPreprocess
from deepfake_detect.inference.session import OnnxNetwork
from deepfake_detect.transforms.preprocess import Preprocessing

from conftest import make_real_fake_folder, write_pattern_image

PARITY = 1e-4


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    return make_real_fake_folder(tmp_path_factory.mktemp("data"), per_class=8, size=64, fmt="JPEG")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """Images of several shapes: scaled down, up, one side each way, and one small (20 px wide)."""
    root = tmp_path_factory.mktemp("photos")
    paths = []
    for i, (width, height) in enumerate([(300, 200), (64, 64), (250, 90), (20, 400)]):
        fmt = "JPEG" if i % 2 else "PNG"
        source = write_pattern_image(root / f"source{i}.png", seed=i, fake=bool(i % 2), size=64)
        with Image.open(source) as img:
            target = root / f"photo{i}.{fmt.lower()}"
            img.convert("RGB").resize((width, height), Image.Resampling.BILINEAR).save(target, format=fmt)
        paths.append(target)
    return paths


def relative_difference(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(got - expected)) / max(float(np.max(np.abs(expected))), 1e-12))


# --- preprocessing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["resize", "center_crop"])
def test_array_preprocessing_matches_the_torchvision_steps(policy, photos):
    """Pillow's resize is what torchvision runs on PIL images; the centre crop picks the same pixels."""
    import torch
    import torchvision.transforms.v2 as T

    size = 48
    prep = Preprocessing(policy, size, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    for path in photos:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
        # a side under the crop: mirror copies around it (torchvision's "symmetric" padding), never zeros
        pad_w, pad_h = max(0, size - rgb.width), max(0, size - rgb.height)
        mirror = T.Pad([pad_w // 2, pad_h // 2, (pad_w + 1) // 2, (pad_h + 1) // 2], padding_mode="symmetric")
        geometry = (T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC, antialias=True)
                    if policy == "resize" else T.Compose([mirror, T.CenterCrop(size)]))
        reference = T.Compose([geometry, T.PILToTensor(), T.ToDtype(torch.float32, scale=True),
                               T.Normalize(prep.mean, prep.std)])
        array = prep.array_transform(rgb)
        assert array.dtype == np.float32 and array.shape == (3, size, size)
        np.testing.assert_allclose(array, reference(rgb).numpy(), atol=1e-5)


# --- every registered backbone ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_exports_with_the_same_features_or_says_why_not(name, photos, single_threaded_native_code):
    """Random weights; real images preprocessed as a detector would. Networks ONNX cannot
    express (torch.fft) are refused in one line, and such a detector runs on torch."""
    import torch

    backbone = create_backbone(name, "random")
    prep = Preprocessing.for_backbone(backbone.info, "resize")
    batch = np.stack([prep.array_transform(Image.open(p).convert("RGB")) for p in photos[:3]])
    try:
        exported = export_onnx(backbone, backbone.info.input_size, "features")
    except DetectorError as exc:
        assert "\n" not in str(exc) and "ONNX" in str(exc)
        return
    with torch.inference_mode():
        expected = backbone(torch.from_numpy(batch)).numpy()
    got = OnnxNetwork(exported.graph, threads=1)(batch)
    assert got.shape == expected.shape == (3, backbone_info(name).embed_dim)
    assert relative_difference(got, expected) < PARITY


def test_backbone_graphs_are_cached_by_weights(tmp_path):
    backbone = create_backbone("efficientnet_lite0", "random", seed=0)
    first = backbone_graph(backbone, tmp_path, threads=1)
    assert first is not None and len(list(tmp_path.glob("*.onnx"))) == 1
    again = backbone_graph(backbone, tmp_path, threads=1)
    other = backbone_graph(create_backbone("efficientnet_lite0", "random", seed=1), tmp_path, threads=1)
    assert again is not None and other is not None and len(list(tmp_path.glob("*.onnx"))) == 2
    (sorted(tmp_path.glob("*.onnx"))[0]).write_bytes(b"not a graph")  # a broken cache entry is exported again
    assert backbone_graph(backbone, tmp_path, threads=1) is not None


def test_a_cached_backbone_graph_is_reused_by_the_next_run(tmp_path):
    """Issue 21: EfficientNet's unused, randomly initialised classifier head changed the key on every
    build, so each `extract` exported (and stored) the graph again."""
    from deepfake_detect.inference.graphs import weights_hash

    first, second = create_backbone("efficientnet_lite0"), create_backbone("efficientnet_lite0")
    assert weights_hash(first) == weights_hash(second)
    assert not any("_fc" in name for name in first.network.state_dict())
    backbone_graph(first, tmp_path, threads=1)
    backbone_graph(second, tmp_path, threads=1)
    assert len(list(tmp_path.glob("*.onnx"))) == 1


# --- detectors -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(data_folder, tmp_path_factory) -> Path:
    """A `train` detector on EfficientNet-Lite0 (its real weights are bundled, offline)."""
    plan = TrainingPlan(dataset=str(data_folder), backbone="efficientnet_lite0",
                        cache=str(tmp_path_factory.mktemp("cache")), validation_size=0.5)
    return train_detector(plan, tmp_path_factory.mktemp("detectors") / "lite", workers=0).path


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory) -> Path:
    """A fine-tuned detector as the fine-tuning export writes it (random head), at 64 px."""
    network = build_finetune_network("efficientnet_lite0", "random")
    info = backbone_info("efficientnet_lite0")
    manifest = {
        "kind": "finetune", "backbone": {"name": "efficientnet_lite0"}, "threshold": 0.5,
        "preprocess": {"policy": "resize", "size": 64, "mean": list(info.mean), "std": list(info.std)},
    }
    manifest, files = finetuned_with_onnx(manifest, {"model.safetensors": weights_bytes(network)}, network, 64)
    return write_detector_folder(tmp_path_factory.mktemp("ft") / "detector", manifest, files)


def both_runtimes(folder: Path, items) -> tuple[list, list]:
    onnx, torch_ = Detector.load(folder, runtime="onnx"), Detector.load(folder, runtime="torch")
    assert (onnx.runtime, torch_.runtime) == ("onnx", "torch")
    return onnx.predict(items, batch_size=3), torch_.predict(items, batch_size=3)


@pytest.mark.parametrize("which", ["trained", "finetuned"])
def test_both_runtimes_give_the_same_verdicts(which, request, data_folder, photos, bad_files):
    folder = request.getfixturevalue(which)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["onnx"]["file"] == "network.onnx" and "network.onnx" in manifest["files"]
    items = [*sorted(data_folder.rglob("*.jpg"))[::3], bad_files["truncated"], *photos]
    with Image.open(photos[0]) as img:
        items.append(img.convert("RGB"))
    onnx, torch_ = both_runtimes(folder, items)
    assert [r.error is None for r in onnx] == [r.error is None for r in torch_]
    assert [r.note for r in onnx] == [r.note for r in torch_]
    assert any(r.note and "small image" in r.note for r in onnx)
    assert "truncated" in onnx[len(items) - len(photos) - 2].error.lower()
    scored = [(a.probability, b.probability) for a, b in zip(onnx, torch_) if a.ok]
    assert np.max(np.abs(np.subtract(*zip(*scored)))) < PARITY
    assert [r.verdict for r in onnx] == [r.verdict for r in torch_]


def test_auto_is_onnx_on_a_cpu_and_torch_when_asked_or_without_a_graph(trained, tmp_path, photos):
    assert Detector.load(trained, device="cpu").runtime == "onnx"
    assert Detector.load(trained, runtime="torch").runtime == "torch"
    assert choose_runtime("auto", "cuda") == "torch"
    with pytest.raises(UserError, match="runtime must be one of"):
        choose_runtime("tensorrt")
    old = tmp_path / "old"
    manifest = {k: v for k, v in json.loads((trained / "manifest.json").read_text()).items()
                if k not in ("format", "format_version", "files", "onnx", "classic_graph")}
    files = {name: (trained / name).read_bytes() for name in ("model.skops", "backbone.safetensors")}
    write_detector_folder(old, manifest, files)  # as saved before detectors carried ONNX
    assert Detector.load(old).runtime == "torch"
    with pytest.raises(DetectorError, match=r"no ONNX graph.*add_onnx"):
        Detector.load(old, runtime="onnx")
    add_onnx(old)
    assert Detector.load(old).runtime == "onnx" and (old / "network.onnx").is_file()
    items = sorted(photos)[:2]  # no classic.onnx: ONNX Runtime for the backbone, scikit-learn after it
    assert [r.probability for r in Detector.load(old).predict(items)] == pytest.approx(
        [r.probability for r in Detector.load(trained).predict(items)], abs=PARITY)


def test_serving_helpers_stack_the_runtime_arrays(finetuned, photos):
    """What serve uses: to_tensor, stack, concat, score_tensors, verdict, size_note."""
    for runtime in ("onnx", "torch"):
        detector = Detector.load(finetuned, runtime=runtime)
        with Image.open(photos[0]) as img:
            tensor = detector.to_tensor(img)
        batch = detector.concat([detector.stack([tensor]), detector.stack([tensor, tensor])])
        scores = detector.score_tensors(batch)
        assert scores.shape == (3,) and detector.verdict(float(scores[0])) in ("no evidence found", "likely generated")
        assert isinstance(tensor, np.ndarray) == (runtime == "onnx")


def test_prefetched_batches_keep_order_and_name_bad_files(photos, bad_files):
    sources = [*photos, bad_files["text"], *photos]
    images = ArrayImages(sources, ArrayPreprocess("resize", 32, (0.5,) * 3, (0.5,) * 3))
    batches = list(prefetched_batches(images, batch_size=3, workers=2))
    assert [i for b in batches for i in sorted([*b.indices, *(i for i, _ in b.bad)])] == list(range(9))
    (bad,) = [message for b in batches for _, message in b.bad]
    assert str(bad_files["text"]) in bad
    inline = list(prefetched_batches(images, batch_size=3, workers=0))
    np.testing.assert_array_equal(batches[0].images, inline[0].images)


@pytest.mark.parametrize("which", ["trained", "finetuned"])
def test_predict_on_a_cpu_never_imports_torch(which, request, photos):
    """A fresh process, as `predict` starts: the detector loads and scores on ONNX Runtime."""
    folder = request.getfixturevalue(which)
    script = (
        "import sys; from deepfake_detect.detector import Detector; "
        f"d = Detector.load({str(folder)!r}, device='cpu'); r = d.predict([{str(photos[0])!r}]); "
        "print(d.runtime, r[0].verdict.replace(' ', '_'), *(name in sys.modules for name in ('torch', 'torchvision', 'sklearn', 'scipy')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    runtime, verdict, *loaded = done.stdout.split()
    # a features detector's classic part runs as classic.onnx: no scikit-learn or SciPy either
    assert runtime == "onnx" and loaded == ["False"] * 4 and verdict in ("no_evidence_found", "likely_generated")


def test_predict_with_the_builtin_network_never_imports_scikit_learn(photos, tmp_path):
    """Cold start follows the kind (issue 18): `predict one.jpg` with the built-in network, run as
    the command line runs it in a fresh process, loads neither scikit-learn nor SciPy nor torch."""
    script = (
        "import sys; from deepfake_detect.cli.app import run; "
        f"status = run(['predict', {str(photos[0])!r}, '--format', 'csv', '-o', {str(tmp_path / 'out.csv')!r}]); "
        "print(status, *(name in sys.modules for name in ('sklearn', 'scipy', 'torch')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "False", "False", "False"], done.stderr[-2000:]
    assert (tmp_path / "out.csv").read_text().count("\n") == 2  # a header and the image's row
