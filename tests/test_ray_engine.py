"""The Ray engine against a real local Ray cluster (2 CPUs on 127.0.0.1, started once for
this module): same features and predictions as the local engine, bad files named, a
SIGKILLed actor replaced without losing or duplicating a batch, an interrupted run resumed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import make_real_fake_folder, run_cli

from deepfake_detect.data import load_dataset
from deepfake_detect.engines.shards import JOB_FILE, open_job
from deepfake_detect.errors import OutputError
from deepfake_detect.features import FeatureCache, extract_features

ray = pytest.importorskip("ray", reason="the Ray engine's tests need ray[data] (the [ray] extra)")
pytestmark = pytest.mark.slow  # a real Ray instance: every test here takes tens of seconds

from deepfake_detect.backbones import create_backbone  # noqa: E402
from deepfake_detect.detector import Detector  # noqa: E402
from deepfake_detect.engines.extract import BackboneRecipe, extract_with_ray  # noqa: E402
from deepfake_detect.engines.predict import predict_with_ray  # noqa: E402

RECIPE = BackboneRecipe("efficientnet_lite0", "random", seed=0)
BATCH = 3


@pytest.fixture(scope="module")
def ray_cluster():
    """A real local Ray instance; its start-up is paid once for the module."""
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Real and fake images with two bad files, and the local engine's features for them."""
    root = tmp_path_factory.mktemp("ray")
    data = make_real_fake_folder(root / "data", per_class=8)
    good = (data / "real" / "img000.png").read_bytes()
    (data / "real" / "truncated.png").write_bytes(good[: len(good) // 3])
    (data / "fake" / "notes.jpg").write_text("not an image\n")
    dataset = load_dataset(data)
    with FeatureCache(root / "local") as cache:
        local = extract_features(dataset, create_backbone(RECIPE.name, RECIPE.weights), cache, batch_size=4, workers=0)
        ids = [i for i in dataset.ids if i not in cache.missing(local.space, dataset.ids)]
        vectors = dict(zip(ids, cache.get(local.space, ids)))
    return {"root": root, "data": data, "dataset": dataset, "local": local, "vectors": vectors}


def assert_same_features(cache_dir: Path, workspace) -> None:
    with FeatureCache(cache_dir) as cache:
        space = workspace["local"].space
        ids = list(workspace["vectors"])
        assert cache.count(space) == len(ids)
        got = cache.get(space, ids)
    expected = np.stack([workspace["vectors"][i] for i in ids])
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale)


def worker_pids(name: str) -> list[int]:
    """Process ids of Ray actors running `name` (Ray titles them ray::MapWorker(MapBatches(name)))."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if f"MapBatches({name})".encode() in title:
                pids.append(int(entry.name))
    return pids


def test_a_shards_folder_of_another_job_is_refused(tmp_path):
    open_job(tmp_path, {"kind": "features", "space": "a"})
    open_job(tmp_path, {"kind": "features", "space": "a"})  # the same job resumes
    with pytest.raises(OutputError, match="another job .*space"):
        open_job(tmp_path, {"kind": "features", "space": "b"})
    assert (tmp_path / JOB_FILE).is_file()


def test_ray_features_equal_the_local_engine_and_bad_files_are_named(ray_cluster, workspace, tmp_path):
    warned: list[str] = []
    shards = tmp_path / "shards"
    with FeatureCache(tmp_path / "cache") as cache:
        report = extract_with_ray(
            workspace["dataset"], RECIPE, cache, batch_size=BATCH, actors=2, shards_dir=shards,
            show_progress=False, on_bad=warned.append,
        )
    local = workspace["local"]
    assert report.space == local.space
    assert (report.total, report.cached, report.extracted) == (local.total, local.cached, local.extracted)
    assert sorted(report.bad) == sorted(local.bad)
    assert sorted(warned) == sorted(reason for _, reason in local.bad)
    assert_same_features(tmp_path / "cache", workspace)

    table = pq.read_table(sorted(shards.glob("*/shard-*.parquet")))
    assert table.num_rows == local.total and len(set(table.column("image_id").to_pylist())) == local.total
    rows = {Path(row["path"]).name: row for row in table.to_pylist()}
    assert rows["img001.png"]["format"] == "PNG" and rows["img001.png"]["width"] == 48
    assert rows["img001.png"]["error"] is None and rows["img001.png"]["space"] == local.space.key
    assert rows["notes.jpg"]["vector"] is None and "not an image" in rows["notes.jpg"]["error"]

    with FeatureCache(tmp_path / "cache") as cache:  # a second run reads the cache, Ray is not needed
        again = extract_with_ray(workspace["dataset"], RECIPE, cache, shards_dir=shards, show_progress=False,
                                 on_bad=warned.append)
    assert (again.cached, again.extracted, sorted(again.bad)) == (local.extracted, 0, sorted(local.bad))


def test_a_killed_actor_is_replaced_and_no_batch_is_lost_or_duplicated(ray_cluster, workspace, tmp_path):
    killed: list[int] = []

    def kill_one_actor(row) -> None:
        if not killed:
            pid = next(p for p in worker_pids("FeatureShardWriter") if p != row["worker"])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    shards = tmp_path / "shards"
    with FeatureCache(tmp_path / "cache") as cache:
        report = extract_with_ray(
            workspace["dataset"], RECIPE, cache, batch_size=2, actors=2, shards_dir=shards,
            show_progress=False, on_bad=lambda message: None, on_batch=kill_one_actor,
        )
    assert killed, "no actor was killed: the run ended before the first batch?"
    assert report.extracted == workspace["local"].extracted
    table = pq.read_table(sorted(shards.glob("*/shard-*.parquet")))
    ids = table.column("image_id").to_pylist()
    assert len(ids) == len(set(ids)) == workspace["local"].total
    assert_same_features(tmp_path / "cache", workspace)


def test_an_interrupted_run_resumes_from_the_shards_written(ray_cluster, workspace, tmp_path):
    shards = tmp_path / "shards"
    finished: list[int] = []

    def interrupt_after_two(row) -> None:
        finished.append(row["batch"])
        if len(finished) == 2:
            raise KeyboardInterrupt

    with FeatureCache(tmp_path / "cache") as cache, pytest.raises(KeyboardInterrupt):
        extract_with_ray(workspace["dataset"], RECIPE, cache, batch_size=BATCH, actors=2, shards_dir=shards,
                         show_progress=False, on_bad=lambda message: None, on_batch=interrupt_after_two)
    written = {int(p.stem.split("-")[1]) for p in shards.glob("*/shard-*.parquet")}
    assert set(finished) <= written

    redone: list[int] = []
    warned: list[str] = []
    with FeatureCache(tmp_path / "cache") as cache:
        report = extract_with_ray(workspace["dataset"], RECIPE, cache, batch_size=BATCH, actors=2, shards_dir=shards,
                                  show_progress=False, on_bad=warned.append, on_batch=lambda row: redone.append(row["batch"]))
    batches = -(-workspace["local"].total // BATCH)
    assert not set(redone) & written and len(redone) == batches - len(written)
    assert report.extracted == workspace["local"].extracted
    assert sorted(warned) == sorted(reason for _, reason in workspace["local"].bad)  # named again, as locally
    assert_same_features(tmp_path / "cache", workspace)


def test_ray_predictions_equal_the_local_detector(ray_cluster, workspace, tmp_path):
    detector_dir = tmp_path / "detector"
    result = run_cli("train", workspace["data"], "--backbone", "fft_spectrum", "--classifier", "linear_probe",
                     "--cache", tmp_path / "cache", "--workers", "0", "-o", detector_dir)
    assert result.exit_code == 1, result.output  # trained; the two bad files were named and skipped
    paths = sorted(p for p in workspace["data"].rglob("*") if p.is_file()) + [workspace["data"] / "missing.png"]
    local = list(Detector.load(detector_dir).predict_paths(paths, batch_size=4))

    warned: list[str] = []
    job = predict_with_ray(detector_dir, iter(paths), tmp_path / "scores", batch_size=BATCH, actors=2,
                           show_progress=False, on_bad=warned.append)
    remote = list(job.predictions())
    assert [p.path for p in remote] == [str(p) for p in paths] and [p.index for p in remote] == list(range(len(paths)))
    assert [p.error for p in remote] == [p.error for p in local]
    assert [p.verdict for p in remote] == [p.verdict for p in local]
    np.testing.assert_allclose(
        [p.probability for p in remote if p.ok], [p.probability for p in local if p.ok], rtol=1e-6
    )
    assert len(warned) == sum(not p.ok for p in local) == 3 and all(str(workspace["data"]) in m for m in warned)
    assert [p.note for p in remote] == [p.note for p in local]


def test_the_cli_engines_give_the_same_rows_and_features(ray_cluster, workspace, tmp_path):
    """`--engine ray` through the real command line: the same CSV as `--engine local`, and the
    same cached features (the running Ray instance is reused)."""
    detector_dir = tmp_path / "detector"
    run_cli("train", workspace["data"], "--backbone", "fft_spectrum", "--cache", tmp_path / "cache",
            "--workers", "0", "-o", detector_dir)
    rows = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.csv"
        result = run_cli("predict", detector_dir, workspace["data"], "--engine", engine, "-o", out,
                         "--shards", tmp_path / "shards")
        assert result.exit_code == 1, result.output  # two unreadable files, named in rows
        rows[engine] = out.read_text(encoding="utf-8")
    assert rows["ray"] == rows["local"]
    extracted = run_cli("extract", workspace["data"], "--backbone", RECIPE.name, "--weights", RECIPE.weights,
                        "--engine", "ray", "--cache", tmp_path / "ray-cache", "--batch-size", str(BATCH))
    assert extracted.exit_code == 1 and "truncated.png" in extracted.stderr
    assert_same_features(tmp_path / "ray-cache", workspace)


def test_make_fakes_on_ray_equals_the_local_engine_even_with_a_killed_actor(ray_cluster, tmp_path):
    """The same aligned pairs, byte for byte, from a pool of actors; one of them is killed
    mid-run and its batch redone by its replacement, without a pair written twice."""
    from deepfake_detect.engines.fakes import make_fakes_with_ray
    from deepfake_detect.fakes import make_fakes
    from conftest import write_pattern_image

    reals = tmp_path / "reals"
    for i in range(8):
        write_pattern_image(reals / f"photo{i}.png", seed=i, fake=False, size=72)
    (reals / "broken.png").write_bytes(b"not an image")
    names = ["tconv", "upsample_conv"]
    local = make_fakes(reals, tmp_path / "local", names, size=64, batch_size=2)

    killed: list[int] = []

    def kill_one_actor(row) -> None:
        if not killed:
            pid = next((p for p in worker_pids("FakesShardWriter") if p != row["worker"]), None)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    remote = make_fakes_with_ray(reals, tmp_path / "ray", names, size=64, batch_size=2, actors=2,
                                 show_progress=False, on_bad=lambda message: None, on_batch=kill_one_actor)
    assert killed, "no actor was killed"
    assert remote.fakes == local.fakes and remote.reals == local.reals == 8
    assert any("broken.png" in message for message in remote.skipped)
    files = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.png"))
    assert files == sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.png"))
    for name in files:
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes()
    assert (tmp_path / "local" / "manifest.csv").read_text() == (tmp_path / "ray" / "manifest.csv").read_text()
    again = make_fakes_with_ray(reals, tmp_path / "ray", names, size=64, batch_size=2, actors=2, show_progress=False,
                                on_bad=lambda message: None)
    assert again.reused == 8 and sum(again.made.values()) == 0
