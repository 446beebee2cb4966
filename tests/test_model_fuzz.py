"""A crafted model file made only of trusted types must be refused in one line, never crash.

For every registered classifier: a real detector folder is saved, then copies of it get one array
(or one integer) of the skops file changed at random, with the manifest's hash updated to match,
as an attacker would. Each copy is loaded and asked to score images in a subprocess, so that a
segmentation fault in compiled code is a failed test naming the copy, not a dead test run.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from deepfake_detect.backbones import create_backbone
from deepfake_detect.classify import list_classifiers
from deepfake_detect.train.plan import TrainingPlan
from deepfake_detect.train.fit import fit_calibrated, save_features_detector

from conftest import gaussian_blobs, make_real_fake_folder

MUTANTS_PER_CLASSIFIER = 16

SCORER = r"""
import json, sys
from deepfake_detect.detector import Detector
from deepfake_detect.errors import DetectorError
images = sys.argv[1].split(",")
for folder in sys.argv[2:]:
    print("START", folder, flush=True)
    try:
        detector = Detector.load(folder)
    except DetectorError as exc:
        print(json.dumps({"folder": folder, "refused": str(exc)}), flush=True)
        continue
    results = detector.predict(images)
    print(json.dumps({"folder": folder, "scores": [r.probability for r in results],
                      "errors": [r.error for r in results]}), flush=True)
"""


def _mutate_array(array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One hostile change: an index far out of range, a negative one, NaN, or a wrong shape."""
    array = array.copy()
    if array.size == 0 or rng.random() < 0.15:
        return np.resize(array, max(array.size - 1, 0)) if array.ndim <= 1 else array[:-1]
    flat = array.reshape(-1)
    target, field = flat, None
    if array.dtype.names:
        field = str(rng.choice(array.dtype.names))
        target = flat[field]
    index = int(rng.integers(target.size))
    if target.dtype.kind in "iu":
        info = np.iinfo(target.dtype)
        choices = [info.max, 10**6, target.size + 3, 0]
        if target.dtype.kind == "i":
            choices += [-5, info.min, -1]
        target[index] = rng.choice(choices)
    elif target.dtype.kind == "f":
        target[index] = rng.choice([np.nan, np.inf, -np.inf, 1e300])
    elif target.dtype.kind == "b":
        target[index] = not target[index]
    if field is not None:
        flat[field] = target
    return array


def _mutate_json_int(schema: dict, rng: np.random.Generator) -> dict:
    ints = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("__class__") == "int" and node.get("__loader__") == "JsonNode":
                ints.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    if ints:
        node = ints[int(rng.integers(len(ints)))]
        node["content"] = json.dumps(int(rng.choice([-1, 0, 10**9, int(json.loads(node["content"])) + 1000])))
    return schema


def mutant(source: Path, target: Path, rng: np.random.Generator) -> str:
    """A copy of the detector folder `source` with one change in its model file; returns what changed."""
    shutil.copytree(source, target)
    model = target / "model.skops"
    with zipfile.ZipFile(model) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    arrays = sorted(name for name in members if name.endswith(".npy"))
    # Index-bearing arrays (integers, node tables) are where a crash hides: pick them more often.
    loaded = {name: np.load(io.BytesIO(members[name]), allow_pickle=False) for name in arrays}
    weights = np.array([4.0 if (a.dtype.names or a.dtype.kind in "iu") else 1.0 for a in loaded.values()])
    if not arrays or rng.random() < 0.2:
        members["schema.json"] = json.dumps(_mutate_json_int(json.loads(members["schema.json"]), rng)).encode()
        changed = "an integer in schema.json"
    else:
        name = str(rng.choice(arrays, p=weights / weights.sum()))
        buffer = io.BytesIO()
        np.save(buffer, _mutate_array(loaded[name], rng), allow_pickle=False)
        members[name] = buffer.getvalue()
        changed = f"{name} {loaded[name].dtype.names or loaded[name].dtype}{loaded[name].shape}"
    _write_model(target, members)
    return changed


def _write_model(folder: Path, members: dict[str, bytes]) -> None:
    """Write model.skops from its zip members and put its new sha256 in the manifest, as an attacker would."""
    model = folder / "model.skops"
    with zipfile.ZipFile(model, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["model.skops"] = hashlib.sha256(model.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    folder = make_real_fake_folder(tmp_path_factory.mktemp("images"), per_class=1)
    return sorted(folder.rglob("*.png"))


@pytest.mark.slow
@pytest.mark.parametrize("classifier", list_classifiers())
def test_a_mutated_model_file_is_refused_in_one_line_or_scores_never_crashes(classifier, images, tmp_path,
                                                                             single_threaded_native_code):
    backbone = create_backbone("fft_spectrum")
    X, y = gaussian_blobs(n=40, n_features=backbone.info.embed_dim)
    plan = TrainingPlan(dataset="blobs", backbone="fft_spectrum", classifier=classifier)
    fitted = fit_calibrated(plan, X[:24], y[:24], X[24:], y[24:])
    save_features_detector(tmp_path / "original", plan, backbone, fitted, data={"name": "blobs"})

    rng = np.random.default_rng(sorted(list_classifiers()).index(classifier))
    changes = {str(tmp_path / "original"): "nothing"}
    for index in range(MUTANTS_PER_CLASSIFIER):
        folder = tmp_path / f"mutant{index}"
        changes[str(folder)] = mutant(tmp_path / "original", folder, rng)

    done = subprocess.run(
        [sys.executable, "-c", SCORER, ",".join(map(str, images)), *changes],
        capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    started = [line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("START ")]
    assert done.returncode == 0, (
        f"exit {done.returncode} while scoring a model with {changes.get(started[-1]) if started else '?'} "
        f"changed:\n{done.stderr[-2000:]}"
    )
    outcomes = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(outcomes) == len(changes)
    for outcome in outcomes:
        what = f"{classifier}, {changes[outcome['folder']]} changed"
        if "refused" in outcome:
            assert "model.skops: " in outcome["refused"] and "\n" not in outcome["refused"], what
        else:
            assert len(outcome["scores"]) == len(images), what
            for score, error in zip(outcome["scores"], outcome["errors"]):
                assert (score is not None and 0.0 <= score <= 1.0) or any(w in (error or "") for w in ("no finite score", "failed when run")), what
    assert "refused" not in outcomes[0], outcomes[0]  # the untouched original still loads


def _tree_detector(folder: Path, classifier: str = "decision_tree") -> Path:
    backbone = create_backbone("fft_spectrum")
    X, y = gaussian_blobs(n=40, n_features=backbone.info.embed_dim)
    plan = TrainingPlan(dataset="blobs", backbone="fft_spectrum", classifier=classifier)
    save_features_detector(folder, plan, backbone, fit_calibrated(plan, X[:24], y[:24], X[24:], y[24:]),
                           data={"name": "blobs"})
    return folder


def _rewrite_model(folder: Path, change) -> None:
    """Apply `change(name, array) -> array | None` to every array of model.skops; re-hash it."""
    model = folder / "model.skops"
    with zipfile.ZipFile(model) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    for name in [n for n in members if n.endswith(".npy")]:
        changed = change(name, np.load(io.BytesIO(members[name]), allow_pickle=False))
        if changed is not None:
            buffer = io.BytesIO()
            np.save(buffer, changed, allow_pickle=False)
            members[name] = buffer.getvalue()
    _write_model(folder, members)


@pytest.mark.slow
def test_a_tree_whose_children_point_outside_it_is_refused_in_one_line(images, tmp_path):
    """The probe's file: a decision tree's left_child indices far out of range (a segfault before)."""
    folder = _tree_detector(tmp_path / "tree")

    def far_children(name, array):
        if array.dtype.names and "left_child" in array.dtype.names:
            array = array.copy()
            array["left_child"][array["left_child"] >= 0] = 10**9
            return array
        return None

    _rewrite_model(folder, far_children)
    done = subprocess.run([sys.executable, "-m", "deepfake_detect", "predict", str(folder), str(images[0])],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-1500:])
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "model.skops" in lines[0] and "left child" in lines[0], lines


def test_a_model_that_is_not_the_classifier_the_manifest_names_is_refused(tmp_path):
    from deepfake_detect.detector import Detector
    from deepfake_detect.errors import DetectorError

    folder = _tree_detector(tmp_path / "tree")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["classifier"]["name"] = "random_forest"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DetectorError, match="not the none \\+ random_forest the manifest names"):
        Detector.load(folder)


# --- the classic part as ONNX: a crafted classic.onnx is refused or scores, never crashes ----------

GRAPH_SCORER = r"""
import json, sys
import numpy as np
from deepfake_detect.detector.kinds.features import load_classic_graph
from deepfake_detect.errors import DetectorError
rows = np.random.default_rng(0).normal(size=(64, int(sys.argv[1])))
for path in sys.argv[2:]:
    print("START", path, flush=True)
    try:
        scorer = load_classic_graph(open(path, "rb").read(), rows.shape[1], threads=1)
    except DetectorError as exc:
        print(json.dumps({"path": path, "refused": str(exc)}), flush=True)
        continue
    try:  # what Detector.predict turns into a per-image error ("failed when run")
        scores = scorer(rows)
    except Exception as exc:
        print(json.dumps({"path": path, "failed": type(exc).__name__}), flush=True)
        continue
    print(json.dumps({"path": path, "scores": [None if s != s else float(s) for s in scores]}), flush=True)
"""


def _mutate_graph(graph: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One hostile change to a node attribute (tree node ids, thresholds, ...) or a constant."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(graph)
    nodes = [n for n in model.graph.node if any(a.ints or a.floats for a in n.attribute)]
    if nodes and rng.random() < 0.6:
        node = nodes[int(rng.integers(len(nodes)))]
        attribute = [a for a in node.attribute if a.ints or a.floats][0 if rng.random() < 0.5 else -1]
        values = attribute.ints if attribute.ints else attribute.floats
        index = int(rng.integers(len(values)))
        values[index] = int(rng.choice([-5, 10**6, 2**31 - 1])) if attribute.ints else float(rng.choice([np.nan, np.inf, -1e30]))
        changed = f"{node.op_type}.{attribute.name}[{index}]"
    else:
        tensor = model.graph.initializer[int(rng.integers(len(model.graph.initializer)))]
        array = numpy_helper.to_array(tensor).copy()
        if array.size == 0 or rng.random() < 0.2:
            array = np.resize(array, (max(array.size - 1, 0),))
        else:
            array.reshape(-1)[int(rng.integers(array.size))] = rng.choice([-7, 10**6]) if array.dtype.kind in "iu" else np.nan
        tensor.CopyFrom(numpy_helper.from_array(array.astype(array.dtype), tensor.name))
        changed = f"constant {tensor.name}"
    return model.SerializeToString(), changed


@pytest.mark.slow
@pytest.mark.parametrize("classifier, reduction, calibration", [
    ("random_forest", "none", "sigmoid"),   # TreeEnsembleClassifier: node ids index its arrays
    ("knn3", "none", "isotonic"),           # distances, TopK, label lookups
    ("svm_rbf", "pca", "sigmoid"),          # SVMClassifier's support-vector tables
    ("linear_probe", "autoencoder", "isotonic"),
])
def test_a_crafted_classic_graph_is_refused_or_scores_never_crashes(classifier, reduction, calibration, tmp_path):
    from deepfake_detect.train.classic_graph import checked_classic_graph

    X, y = gaussian_blobs(n=60, n_features=12)
    plan = TrainingPlan(dataset="blobs", backbone="fft_spectrum", classifier=classifier, reduction=reduction,
                        reduction_params={"max_epochs": 3} if reduction == "autoencoder" else {}, calibration=calibration)
    fitted = fit_calibrated(plan, X[:36], y[:36], X[36:], y[36:])
    graph, info = checked_classic_graph(fitted.estimator, fitted.validation_rows)
    assert graph is not None, info
    rng = np.random.default_rng(list_classifiers().index(classifier))
    changes = {str(tmp_path / "original.onnx"): "nothing"}
    (tmp_path / "original.onnx").write_bytes(graph)
    for index in range(24):
        path = tmp_path / f"mutant{index}.onnx"
        data, changes[str(path)] = _mutate_graph(graph, rng)
        path.write_bytes(data)

    done = subprocess.run([sys.executable, "-c", GRAPH_SCORER, "12", *changes], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    started = [line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("START ")]
    assert done.returncode == 0, (
        f"exit {done.returncode} on a graph with {changes.get(started[-1]) if started else '?'} changed:\n{done.stderr[-2000:]}")
    outcomes = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(outcomes) == len(changes)
    for outcome in outcomes:
        what = f"{classifier}, {changes[outcome['path']]} changed"
        if "refused" in outcome:
            assert outcome["refused"].startswith("classic.onnx: ") and "\n" not in outcome["refused"], what
        elif "scores" in outcome:
            assert len(outcome["scores"]) == 64, what  # a NaN or out-of-range score is refused per image by Detector
    assert "scores" in outcomes[0] and all(0 <= s <= 1 for s in outcomes[0]["scores"])  # the original scores
