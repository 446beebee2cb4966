"""The one folder walker: symlinks, loops, hidden entries and order, on real folders."""

import os

from deepfake_detect.data import load_dataset, walk_files

from conftest import make_real_fake_folder


def relative(root, paths):
    return [p.relative_to(root).as_posix() for p in paths]


def test_symlink_loop_is_walked_once(tmp_path):
    data = make_real_fake_folder(tmp_path / "data", per_class=3)
    os.symlink("..", data / "real" / "loop")  # real/loop -> data: a cycle
    os.symlink(data, data / "fake" / "again")
    files = list(walk_files(data))
    assert len(files) == 6
    assert load_dataset(data).counts() == {"real": 3, "fake": 3}


def test_linked_folders_are_followed_and_each_real_folder_read_once(tmp_path):
    shared = make_real_fake_folder(tmp_path / "shared", per_class=2)
    root = tmp_path / "set"
    root.mkdir()
    os.symlink(shared / "real", root / "a_real")
    os.symlink(shared / "real", root / "b_real")  # the same folder through a second link
    assert relative(root, walk_files(root)) == ["a_real/img000.png", "a_real/img001.png"]


def test_hidden_entries_are_skipped_and_order_is_sorted(tmp_path):
    root = tmp_path / "r"
    for rel in ["b/z.png", "a.png", "b/a/x.png", "c.png", ".hidden/x.png", "b/.DS_Store"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    walked = relative(root, walk_files(root))
    assert walked == ["a.png", "b/a/x.png", "b/z.png", "c.png"]
    assert walked == relative(root, walk_files(root))


def test_dangling_link_is_yielded_for_reporting(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "gone.png", tmp_path / "real" / "broken.png")
    assert relative(tmp_path, walk_files(tmp_path)) == ["real/broken.png"]
