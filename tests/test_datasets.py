import os
import shutil

import pytest

from deepfake_detect.data import DatasetError, load_dataset
from deepfake_detect.data.datasets import from_folder

from conftest import make_real_fake_folder, write_pattern_image


def test_real_fake_folder(image_folder):
    data = load_dataset(image_folder)
    assert data.counts() == {"real": 12, "fake": 12}
    assert data.generators() == ["data"]


def test_ufd_layout_at_depth_names_generators(tmp_path):
    for gen in ("biggan", "ldm_200"):
        make_real_fake_folder(tmp_path / "test" / gen / "car", per_class=3, layout="ufd")
        make_real_fake_folder(tmp_path / "test" / gen / "cat", per_class=2, layout="ufd")
    data = load_dataset(tmp_path / "test")
    assert data.counts() == {"real": 10, "fake": 10}
    assert data.generators() == ["biggan", "ldm_200"]


def test_csv_manifest_relative_paths_and_generators(image_folder):
    manifest = image_folder / "list.csv"
    manifest.write_text("path,label,generator\nreal/img000.png,0,\nfake/img000.png,fake,sd14\n")
    data = load_dataset(manifest)
    assert [r.label for r in data.records] == [0, 1]
    assert data.records[1].generator == "sd14" and data.records[0].path.exists()


def test_csv_bad_label_is_one_line(image_folder):
    manifest = image_folder / "list.csv"
    manifest.write_text("path,label\nreal/img000.png,maybe\n")
    with pytest.raises(DatasetError, match=r"list.csv:2: label 'maybe'"):
        load_dataset(manifest)


def test_combined_sources_and_stable_ids(tmp_path):
    a = make_real_fake_folder(tmp_path / "a", per_class=3)
    b = make_real_fake_folder(tmp_path / "b", per_class=3)  # same pixels as a
    data = load_dataset([a, b])
    assert len(data) == 12
    assert data.ids[:6] == data.ids[6:]  # same content, same id, wherever it lives


def test_named_dataset_resolves_against_data_root(tmp_path, monkeypatch):
    root = tmp_path / "root"
    for i in range(4):
        write_pattern_image(root / "CNN_synth_testset/biggan/0_real" / f"{i}.png", i, False)
        write_pattern_image(root / "CNN_synth_testset/biggan/1_fake" / f"{i}.png", 50 + i, True)
    monkeypatch.setenv("DEEPFAKE_DETECT_DATA", str(root))
    data = load_dataset("biggan", max_per_class=3)
    assert data.counts() == {"real": 3, "fake": 3}
    assert load_dataset("biggan", max_per_class=3).records == data.records  # seeded sampling


def test_named_dataset_without_root_says_what_to_do(monkeypatch):
    monkeypatch.delenv("DEEPFAKE_DETECT_DATA", raising=False)
    with pytest.raises(DatasetError, match="--data-root"):
        load_dataset("laion_vs_ldm100")


def test_empty_and_one_class_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        load_dataset(tmp_path / "empty").check_usable()
    write_pattern_image(tmp_path / "one" / "real" / "x.png", 0, False)
    with pytest.raises(DatasetError, match="only one class"):
        load_dataset(tmp_path / "one").check_usable()
    with pytest.raises(DatasetError, match="no such folder"):
        load_dataset(tmp_path / "nope")


def test_non_image_files_in_label_folders_are_kept_for_reporting(image_folder):
    (image_folder / "real" / "readme.txt").write_text("hi")
    assert any(r.path.name == "readme.txt" for r in from_folder(image_folder).records)


def test_symlink_loop_does_not_multiply_records(image_folder):
    os.symlink("..", image_folder / "real" / "loop")
    assert from_folder(image_folder).counts() == {"real": 12, "fake": 12}


def test_copies_are_kept_and_counted_in_one_warning(image_folder, caplog):
    for i in range(3):
        shutil.copy(image_folder / "real" / "img000.png", image_folder / "real" / f"copy{i}.png")
    data = load_dataset(image_folder)
    assert data.counts() == {"real": 15, "fake": 12}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "3 file(s) repeat" in warning


def test_same_picture_as_real_and_fake_is_left_out_and_named(image_folder, caplog):
    shutil.copy(image_folder / "real" / "img005.png", image_folder / "fake" / "leaked.png")
    data = load_dataset(image_folder)
    assert data.counts() == {"real": 11, "fake": 12}
    paths = [r.path for r in data.records]
    assert image_folder / "real" / "img005.png" not in paths and image_folder / "fake" / "leaked.png" not in paths
    assert len(data.ids) == len(data.records)
    err = " ".join(caplog.text.split())
    assert "labelled both real and fake" in err and "img005.png" in err and "leaked.png" in err


def test_csv_from_a_spreadsheet_with_byte_order_mark_and_groups(image_folder):
    manifest = image_folder / "list.csv"
    text = "path,label,generator,group\nreal/img000.png,real,,src0\nfake/img000.png,fake,sd14,src0\nreal/img001.png,0,,\n"
    manifest.write_bytes(text.encode("utf-8-sig"))
    data = load_dataset(manifest)
    assert [r.label for r in data.records] == [0, 1, 0]
    assert data.groups == ["src0", "src0", None]
    assert load_dataset(image_folder).groups is None


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_csv_in_another_encoding_says_to_save_as_utf8(image_folder, encoding):
    manifest = image_folder / "list.csv"
    manifest.write_bytes("path,label\nreal/café.png,0\n".encode(encoding))
    with pytest.raises(DatasetError, match=r"list.csv: not UTF-8 text .*save it as UTF-8"):
        load_dataset(manifest)
