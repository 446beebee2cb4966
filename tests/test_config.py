"""The grid config: every mistake is one line (ConfigError / UnknownNameError) before any work."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deepfake_detect.classify import list_classifiers
from deepfake_detect.grid.config import GridConfig, load_config, transform_label
from deepfake_detect.errors import ConfigError, UserError
from deepfake_detect.reduce import list_reducers
from deepfake_detect.transforms import TransformSpec


def write(tmp_path, text: str):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def settings(**overrides) -> str:
    return yaml.safe_dump({"datasets": {"d": "data"}, "backbones": ["fft_spectrum"], **overrides})


@pytest.mark.parametrize("text, message", [
    ("datasets: {d: data\nbackbones: [", "not valid YAML"),
    ("- datasets\n- backbones\n", "expected a mapping of settings, found a list"),
    ("", "datasets: Field required"),
])
def test_unreadable_files_are_one_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_config(write(tmp_path, text))
    assert str(error.value).startswith(str(tmp_path / "grid.yaml")) and "\n" not in str(error.value)


def test_a_missing_file_or_a_folder_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


@pytest.mark.parametrize("overrides, message", [
    ({"classifiers": {"svm_rbf": {"C": "high"}}}, "classifier 'svm_rbf': parameter 'C' must be like 1.0, got 'high'"),
    ({"classifiers": {"svm_rbf": {"C": -1.0}}}, "classifier 'svm_rbf': The 'C' parameter of SVC must be a float in the range"),
    ({"classifiers": {"knn1": {"neighbours": 3}}}, "classifier 'knn1' has no parameter 'neighbours'"),
    ({"classifiers": {"lda": {"search": True}}}, "classifier 'lda' has no search grid"),
    ({"reductions": {"pca": {"n_component": 8}}}, "reducer 'pca' has no parameter 'n_component'"),
    ({"reductions": {"autoencoder": {"bottleneck": "wide"}}}, "reducer 'autoencoder': parameter 'bottleneck' must be like"),
    ({"reductions": ["umap"]}, "unknown reducer 'umap'"),
    ({"classifiers": ["knn7"]}, "unknown classifier 'knn7'"),
    ({"backbones": ["vgg"]}, "unknown backbone 'vgg'"),
    ({"protocols": {"robustness": {"jpeg": [0]}}}, "protocols.robustness.jpeg.0: Input should be greater than or equal to 1"),
    ({"protocols": {"robustness": {"jpeg": [101]}}}, "protocols.robustness.jpeg.0: Input should be less than or equal to 100"),
    ({"protocols": {"robustness": {"blur": [-1]}}}, "protocols.robustness.blur.0: Input should be greater than or equal to 0"),
    ({"protocols": {"robustness": {"downscale": [0]}}}, "protocols.robustness.downscale.0: Input should be greater than 0"),
    ({"protocols": {"robustness": {"downscale": [1.5]}}}, "protocols.robustness.downscale.0: Input should be less than or equal to 1"),
    ({"protocols": {"within": None, "robustness": {}}}, "robustness needs protocols.within"),
    ({"protocols": {"within": False, "robustness": {}}}, "robustness needs protocols.within"),
    ({"protocols": {"robustness": {"datasets": ["e"]}}}, "unknown robustness dataset 'e'"),
    ({"protocols": {"cross": {"d": ["nope"]}}}, "unknown cross dataset 'nope'"),
    ({"transforms": ["blur", {"name": "blur"}]}, "transforms: blur given twice"),
    ({"datasets": {"all-but-e": "a", "e": "b"}, "protocols": {"lodo": True}},
     "dataset 'all-but-e': with protocols.lodo, names starting with 'all-but-' are kept for the pooled training sets"),
    ({"preprocess": "squash"}, "preprocess: Input should be 'resize', 'center_crop' or 'patches'"),
    ({"batch_size": "many"}, "batch_size: Input should be a valid integer"),
])
def test_every_config_mistake_is_one_line_before_any_work(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_config(write(tmp_path, settings(**overrides)))
    assert "\n" not in str(error.value) and str(error.value).startswith(str(tmp_path / "grid.yaml"))


def test_a_classifier_can_run_twice_under_two_labels(tmp_path):
    config = load_config(write(tmp_path, settings(classifiers={"svm_rbf@C=3": {"C": 3.0}, "svm_rbf": {}})))
    steps = config.classifier_steps()
    assert sorted((s.label, s.name, s.params["C"] if s.params else None) for s in steps) == [
        ("svm_rbf", "svm_rbf", None), ("svm_rbf@C=3", "svm_rbf", 3.0)]


def test_all_means_every_registered_entry(tmp_path):
    config = load_config(write(tmp_path, settings(classifiers="all", reductions="all")))
    assert sorted(config.classifiers) == list_classifiers()
    assert sorted(config.reductions) == list_reducers()


def test_transform_labels_show_parameters_that_differ_from_the_defaults():
    assert transform_label(TransformSpec(name="blur")) == "blur"
    wide = transform_label(TransformSpec(name="blur", blur_sigma=(1, 3)))
    assert wide.startswith("blur(") and "1" in wide and "3" in wide
    assert transform_label(TransformSpec(name="none", blur_sigma=(1, 3))) == "none"  # no effect, no label
    two_blurs = GridConfig.model_validate({"datasets": {"d": "x"}, "backbones": ["fft_spectrum"],
                                           "transforms": ["blur", {"name": "blur", "blur_sigma": [1, 3]}]})
    assert len(two_blurs.transform_by_label()) == 2


def test_a_saved_config_reads_back_the_same(tmp_path):
    from deepfake_detect.grid.config import config_yaml

    config = load_config(write(tmp_path, settings(classifiers={"svm_rbf@C=3": {"C": 3.0}}, transforms=["none", "blur"],
                                                   protocols={"robustness": {"jpeg": [90]}})))
    (tmp_path / "saved.yaml").write_text(config_yaml(config), encoding="utf-8")  # what a run folder keeps
    assert load_config(tmp_path / "saved.yaml") == config


@pytest.mark.parametrize("overrides", [{"classifiers": ["knn7"]}, {"backbones": ["vgg"]}])
def test_a_wrong_name_fails_before_torch_or_sklearn_is_imported(tmp_path, overrides):
    path = write(tmp_path, settings(**overrides))
    probe = (
        "import sys\nfrom deepfake_detect.grid.config import load_config\nfrom deepfake_detect.errors import UserError\n"
        f"try:\n    load_config({str(path)!r})\nexcept UserError:\n    print('torch' in sys.modules, 'sklearn' in sys.modules)"
    )
    checked = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert checked.stdout.split() == ["False", "False"], checked.stderr


def test_user_errors_are_user_errors():
    assert issubclass(ConfigError, UserError)


SHIPPED_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    # names, parameters and protocols are checked on load; data folders are only read by a run
    config = load_config(path)
    assert config.datasets and config.feature_sources()


@pytest.mark.parametrize("switch, expected", [(False, None), (None, None), (True, {"test_size": 0.2, "seeds": [0]})])
def test_the_within_protocol_is_switched_like_the_others(tmp_path, switch, expected):
    config = load_config(write(tmp_path, settings(protocols={"within": switch, "logo": False})))
    within = config.protocols.within
    assert (within.model_dump() if within else None) == expected
