"""The HTTP API through a real uvicorn server on loopback: answers, limits, and a load test."""

from __future__ import annotations

import concurrent.futures
import io
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
import uvicorn
from PIL import Image

from deepfake_detect.detector import Detector
from deepfake_detect.train import TrainingPlan, train_detector
from deepfake_detect.cli.detector_commands import is_loopback
from deepfake_detect.serve import create_app
from deepfake_detect.serve.app import BatchScorer, Overloaded

from conftest import make_real_fake_folder, run_cli

MAX_UPLOAD_BYTES = 300_000
MAX_PIXELS = 500_000
MAX_FILES = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """uvicorn serving `app` on a free loopback port in a background thread."""

    def __init__(self, app):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    return make_real_fake_folder(tmp_path_factory.mktemp("data"), per_class=10)


@pytest.fixture(scope="module")
def detector_folder(data_folder, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    plan = TrainingPlan(dataset=str(data_folder), backbone="fft_spectrum", cache=str(root / "cache"))
    return train_detector(plan, root / "detector", workers=0).path


@pytest.fixture(scope="module")
def detector(detector_folder) -> Detector:
    return Detector.load(detector_folder)


@pytest.fixture(scope="module")
def server(detector):
    app = create_app(detector, max_upload_bytes=MAX_UPLOAD_BYTES, max_pixels=MAX_PIXELS, max_files=MAX_FILES)
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def png_bytes(size: tuple[int, int] = (64, 64), seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(*named: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, "application/octet-stream")) for name, data in named]


def test_health_model_page_and_docs(client, detector):
    assert client.get("/health").json()["status"] == "ok"
    manifest = client.get("/model").json()
    assert manifest["kind"] == "features" and manifest["threshold"] == detector.threshold
    assert manifest["files"] == detector.manifest["files"] and manifest["description"] == detector.description
    page = client.get("/")
    assert page.status_code == 200 and 'type="file"' in page.text and "http" not in page.text.split("<script>")[1]
    assert "/predict" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_predict_one_and_several_images_match_the_python_api(client, detector, data_folder):
    real, fake = data_folder / "real" / "img003.png", data_folder / "fake" / "img003.png"
    expected = [r.probability for r in detector.predict([real, fake])]
    one = client.post("/predict", files=upload(("real.png", real.read_bytes())))
    assert one.status_code == 200
    assert one.json()["results"][0]["probability"] == pytest.approx(expected[0], abs=1e-6)
    several = client.post("/predict", files=upload(("r.png", real.read_bytes()), ("f.png", fake.read_bytes())))
    body = several.json()
    assert [r["filename"] for r in body["results"]] == ["r.png", "f.png"]
    assert [r["verdict"] for r in body["results"]] == ["no evidence found", "likely generated"]
    assert [r["probability"] for r in body["results"]] == pytest.approx(expected, abs=1e-6)
    assert body["threshold"] == detector.threshold


def test_a_bad_file_among_good_ones_gets_an_error_entry(client):
    response = client.post("/predict", files=upload(("ok.png", png_bytes()), ("notes.txt", b"hello")))
    assert response.status_code == 200
    ok, bad = response.json()["results"]
    assert ok["verdict"] in ("no evidence found", "likely generated") and ok["error"] is None
    assert bad["probability"] is None and "not an image" in bad["error"]


def test_a_non_image_alone_is_415_with_a_clear_message(client):
    response = client.post("/predict", files=upload(("notes.txt", b"just text")))
    assert response.status_code == 415
    assert "notes.txt: not an image" in response.json()["detail"]
    truncated = png_bytes()[:200]
    response = client.post("/predict", files=upload(("cut.png", truncated)))
    assert response.status_code == 415 and "cut.png" in response.json()["detail"]


def test_too_many_pixels_is_refused_before_decoding(client):
    """A PNG whose header claims a huge canvas: refused from the header, never allocated."""
    bomb = io.BytesIO()
    Image.new("1", (6_000, 6_000)).save(bomb, format="PNG")  # 36 MP in a few KB
    assert len(bomb.getvalue()) < MAX_UPLOAD_BYTES
    response = client.post("/predict", files=upload(("bomb.png", bomb.getvalue())))
    assert response.status_code == 413
    assert "36,000,000 pixels" in response.json()["detail"] and "decompression bomb" in response.json()["detail"]


def test_oversized_uploads_are_413_declared_or_streamed(client):
    big = upload(("big.bin", b"\0" * (MAX_UPLOAD_BYTES + 1000)))
    response = client.post("/predict", files=big)
    assert response.status_code == 413 and "larger than this server's limit" in response.json()["detail"]
    request = client.build_request("POST", "/predict", files=big)
    body = request.read()

    def chunks():  # no Content-Length: the server must count as the body arrives
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    streamed = client.post("/predict", content=chunks(), headers={"content-type": request.headers["content-type"]})
    assert streamed.status_code == 413 and "limit" in streamed.json()["detail"]


def test_too_many_files_and_no_files(client):
    response = client.post("/predict", files=upload(*[(f"{i}.png", png_bytes()) for i in range(MAX_FILES + 1)]))
    assert response.status_code == 400 and "Maximum number of files" in response.json()["detail"]
    assert client.post("/predict").status_code == 422


def test_load_200_requests_from_8_clients_all_answered(server, data_folder):
    images = [p.read_bytes() for p in sorted(data_folder.rglob("*.png"))]

    def one_client(worker: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for i in range(25):
                response = c.post("/predict", files=upload((f"{worker}-{i}.png", images[(worker + i) % len(images)])))
                if response.status_code == 503:
                    assert "busy" in response.json()["detail"]
                else:
                    assert response.json()["results"][0]["verdict"] in ("no evidence found", "likely generated")
                statuses.append(response.status_code)
        return statuses

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = [s for batch in pool.map(one_client, range(8)) for s in batch]
    assert len(statuses) == 200 and set(statuses) <= {200, 503}
    assert statuses.count(200) >= 190
    assert time.monotonic() - started < 120
    assert server.server.config.app.state.scorer.queued_images == 0


class SlowDetector:
    """Stands in for a model that takes a while, to fill the queue."""

    threshold = 0.5

    def __init__(self):
        self.batches: list[int] = []
        self.release = threading.Event()

    def score_tensors(self, tensors: torch.Tensor) -> np.ndarray:
        self.release.wait(10)
        self.batches.append(len(tensors))
        return np.full(len(tensors), 0.25)

    def stack(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(tensors)

    def concat(self, batches: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(batches)


def test_the_worker_batches_queued_requests_and_refuses_beyond_the_limit():
    slow = SlowDetector()
    scorer = BatchScorer(slow, max_batch=4, max_queued_images=6)
    scorer.start()
    try:
        image = torch.zeros(3, 8, 8)
        first = scorer.submit([image])  # taken at once; the worker then waits on it
        time.sleep(0.2)
        queued = [scorer.submit([image, image]) for _ in range(2)] + [scorer.submit([image])]
        with pytest.raises(Overloaded, match="busy"):
            scorer.submit([image] * 2)
        slow.release.set()
        for futures in [first, *queued]:
            assert all((f.result(timeout=10) == 0.25).all() for f in futures)
    finally:
        scorer.stop()
    assert slow.batches == [1, 4, 1]  # the three queued requests shared forward passes
    assert scorer.queued_images == 0


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_formats_outside_the_photo_list_are_refused(client):
    """EPS would reach Ghostscript through Pillow's plugins; the server accepts photo formats only."""
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\nshowpage\n"
    response = client.post("/predict", files=upload(("drawing.eps", eps)))
    assert response.status_code == 415 and "drawing.eps" in response.json()["detail"]


def test_decoded_pixels_are_bounded_per_request(detector):
    """Several images that each pass the per-image limit still cannot add up without bound."""
    app = create_app(detector, max_request_pixels=2 * 64 * 64)
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        response = c.post("/predict", files=upload(*[(f"{i}.png", png_bytes(seed=i)) for i in range(3)]))
    assert response.status_code == 200
    first, second, third = response.json()["results"]
    assert first["verdict"] and second["verdict"]
    assert third["probability"] is None and "decoded pixels per request" in third["error"]


def test_serve_on_a_busy_port_is_one_line_exit_2(detector_folder):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli("serve", detector_folder, "--port", busy.getsockname()[1])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot listen on 127.0.0.1" in lines[0]
    assert "serving" not in result.output
