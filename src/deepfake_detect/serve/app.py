"""The HTTP API and web page: `create_app(detector)` -> a FastAPI app.

Safety and memory are bounded at every step a request passes through:
- the request body (refused from its declared size, or as soon as it passes the limit)
  and the number of files per request;
- the pixel count, read from the image header before anything is decoded, so a
  decompression bomb is refused without allocating it;
- decoding runs in at most `decode_slots` threads at once;
- one worker thread owns the model; requests hand it preprocessed tensors through a queue
  admitted by image count, and it scores whatever has gathered as one batch. When the queue
  is full the answer is 503 with Retry-After, never unbounded growth.
"""

from __future__ import annotations

import asyncio
import io
import queue
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files as package_files
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, File, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from ..data.images import ALLOWED_FORMATS, DEFAULT_MAX_PIXELS, BadImage, decode_rgb
from ..detector import Detector
from ..errors import ModelRunError
from ..provenance import VERDICT_MEANINGS, Provenance, Verdict
from ..runtime import json_safe

DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_REQUEST_PIXELS = 100_000_000
"""Decoded pixels of all images in one request together (two of the largest images `DEFAULT_MAX_PIXELS` allows)."""
DEFAULT_MAX_FILES = 16
DEFAULT_MAX_BATCH = 16
DEFAULT_MAX_QUEUED_IMAGES = 128
DEFAULT_DECODE_SLOTS = 2


class ImageResult(BaseModel):
    filename: str
    probability: float | None = Field(None, description="The pixel detector's calibrated probability that the image is generated")
    verdict: Literal[tuple(v.value for v in Verdict)] | None = Field(  # type: ignore[valid-type]
        None, description="From all the evidence (provenance first, then pixels); see GET /verdicts")
    evidence: str | None = Field(None, description="What the verdict rests on, in one line")
    combined: float | None = Field(None, description="The probability raised by unsigned evidence (bounded)")
    provenance: dict[str, Any] | None = Field(None, description="Structured provenance findings")
    error: str | None = Field(None, description="Why this file could not be scored")
    note: str | None = Field(None, description="A caveat, e.g. an image smaller than the detector's input")


class PredictResponse(BaseModel):
    results: list[ImageResult]
    threshold: float


class Overloaded(Exception):
    """The queue holds as many images as allowed; the client should retry shortly."""


class UploadRejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# --- the model worker ---------------------------------------------------------------------------


@dataclass
class _Job:
    tensors: Any
    """A stacked batch in the detector's runtime's array type (torch tensor or numpy array)."""
    future: Future


class BatchScorer:
    """One thread owns the model and scores queued requests together in batches of up to
    `max_batch` images; admission is counted in images, so memory is bounded."""

    def __init__(self, detector: Detector, max_batch: int, max_queued_images: int):
        self.detector = detector
        self.max_batch = max_batch
        self.max_queued_images = max_queued_images
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._queued = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def queued_images(self) -> int:
        return self._queued

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="detector-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(self, tensors: list[Any]) -> list[Future]:
        """Futures of P(fake) arrays, one per chunk of at most `max_batch` images."""
        with self._lock:
            if self._queued + len(tensors) > self.max_queued_images:
                raise Overloaded(f"server busy: {self._queued} images queued (limit {self.max_queued_images}); retry shortly")
            self._queued += len(tensors)
        futures = []
        for start in range(0, len(tensors), self.max_batch):
            job = _Job(self.detector.stack(tensors[start : start + self.max_batch]), Future())
            self._queue.put(job)
            futures.append(job.future)
        return futures

    def _run(self) -> None:
        carried: _Job | None = None
        while True:
            job = carried or self._queue.get()
            carried = None
            if job is None:
                return
            jobs, count, stopping = [job], len(job.tensors), False
            while count < self.max_batch:
                try:
                    extra = self._queue.get_nowait()
                except queue.Empty:
                    break
                if extra is None:
                    stopping = True
                    break
                if count + len(extra.tensors) > self.max_batch:
                    carried = extra
                    break
                jobs.append(extra)
                count += len(extra.tensors)
            self._score(jobs)
            if stopping:
                return

    def _score(self, jobs: list[_Job]) -> None:
        try:
            scores = self.detector.score_tensors(self.detector.concat([job.tensors for job in jobs]))
        except Exception as exc:  # handed to every waiting request, which answers 500
            scores, error = None, exc
        else:
            error = None
        with self._lock:  # released before any request is answered, so an idle server counts 0
            self._queued -= sum(len(job.tensors) for job in jobs)
        start = 0
        for job in jobs:
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(scores[start : start + len(job.tensors)])
                start += len(job.tensors)


class UploadSizeLimit:
    """Refuse request bodies above `max_bytes` with 413 and a message that states the limit.

    A declared Content-Length is refused before any byte is read; a chunked body is counted
    as it arrives and refused as soon as it passes the limit. (FastAPI's own `max_body_size`
    does the same but answers a bare "Content Too Large".)
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.message = f"upload is larger than this server's limit of {max_bytes / 2**20:.1f} MB"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await JSONResponse({"detail": self.message}, status_code=413)(scope, receive, send)
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self.message)
            return message

        await self.app(scope, counted_receive, send)


# --- uploads -------------------------------------------------------------------------------------


def header_pixels(data: bytes) -> int:
    """Width x height from the image header alone (0 when it is not an image we accept)."""
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as header:
            width, height = header.size
    except Exception:
        return 0  # not an image: decode_rgb words the reason
    return width * height


@dataclass
class Prepared:
    tensor: Any
    note: str | None
    provenance: Provenance | None = None


def read_provenance(detector: Detector, data: bytes, filename: str) -> Provenance | None:
    """The provenance stage on the uploaded bytes (the same reader `predict` uses)."""
    return None if detector.provenance is None else detector.provenance.read_bytes(data, filename)


def cheap_rejection(data: bytes, filename: str, pixels: int, max_pixels: int) -> UploadRejected | None:
    """Why an upload is refused from its bytes and header alone (empty, not an image, a bomb), or None.

    Answered before the request waits for a decoding slot, so a zero-byte file is not refused
    only after other requests' large decodes.
    """
    if not data:
        return UploadRejected(415, f"{filename}: empty file, not an image")
    if pixels == 0:
        try:
            decode_rgb(data, filename, max_pixels, None)  # header unreadable: words the reason (cheap)
        except BadImage as exc:
            return UploadRejected(415, str(exc))
    if pixels > max_pixels:
        return UploadRejected(
            413, f"{filename}: {pixels:,} pixels is above this server's limit of {max_pixels:,} per image "
            "(refused as a possible decompression bomb)"
        )
    return None


def prepare_upload(detector: Detector, data: bytes, filename: str, max_pixels: int) -> Prepared:
    """Bytes -> model input tensor (and any caveat, and the provenance findings), or
    `UploadRejected` with the HTTP status and reason."""
    refused = cheap_rejection(data, filename, header_pixels(data), max_pixels)
    if refused is not None:
        raise refused
    try:
        image = decode_rgb(data, filename, max_pixels, detector.draft_size)
    except BadImage as exc:
        raise UploadRejected(415, str(exc)) from None
    refused = detector.too_small(*image.size)
    if refused:
        raise UploadRejected(422, f"{filename}: {refused}")
    return Prepared(detector.to_tensor(image), detector.size_note(*image.size), read_provenance(detector, data, filename))


def within_request_budget(blobs: list[bytes], names: list[str], max_request_pixels: int,
                          max_pixels: int) -> list[UploadRejected | None]:
    """Per file, None when it may be decoded, else why not: the cheap rejections first (empty,
    not an image, above the per-image limit), then the request's pixel budget.

    Many large images in one small request would otherwise cost seconds of server CPU each:
    the budget is counted from the headers, in upload order, before anything is decoded.
    """
    spent, verdicts = 0, []
    for name, data in zip(names, blobs):
        pixels = header_pixels(data)
        refused = cheap_rejection(data, name, pixels, max_pixels)
        if refused is not None:
            verdicts.append(refused)
        elif spent + pixels > max_request_pixels:
            verdicts.append(UploadRejected(
                413, f"{name}: the request's images together exceed this server's limit of "
                f"{max_request_pixels:,} decoded pixels per request; send it in another request"))
        else:
            spent += pixels
            verdicts.append(None)
    return verdicts


def _static_page() -> str:
    return (package_files("deepfake_detect.serve") / "static" / "index.html").read_text(encoding="utf-8")


# --- the app --------------------------------------------------------------------------------------


def create_app(
    detector: Detector,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_files: int = DEFAULT_MAX_FILES,
    max_queued_images: int = DEFAULT_MAX_QUEUED_IMAGES,
    decode_slots: int = DEFAULT_DECODE_SLOTS,
) -> FastAPI:
    """The API and page around one loaded detector; limits as in the module docstring."""
    scorer = BatchScorer(detector, max_batch, max(max_queued_images, max_files))
    decoding = asyncio.Semaphore(decode_slots)  # replaced in lifespan, on the serving event loop
    manifest = {**json_safe(detector.manifest), "description": detector.description}
    page = _static_page()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal decoding
        decoding = asyncio.Semaphore(decode_slots)
        scorer.start()
        try:
            yield
        finally:
            await run_in_threadpool(scorer.stop)

    app = FastAPI(
        title="deepfake-detect",
        summary="Is this image a real photograph or generated?",
        description=f"Detector: {detector.describe()}. Upload images to `POST /predict`.",
        lifespan=lifespan,
        form_limits={"max_files": max_files},  # more files: 400 "Too many files. Maximum number of files is N."
    )
    app.add_middleware(UploadSizeLimit, max_bytes=max_upload_bytes)
    app.state.scorer = scorer

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {"status": "ok", "queued_images": scorer.queued_images}

    @app.get("/model")
    async def model() -> JSONResponse:
        """The detector's manifest (what it is, how it was trained, what it reached), and its
        `description` in words, as the command line names it."""
        return JSONResponse(manifest)

    @app.get("/verdicts")
    async def verdicts() -> dict[str, object]:
        """What each verdict means, and how provenance is read (trust lists, network)."""
        reader = detector.provenance.describe() if detector.provenance is not None else None
        return {"meanings": {v.value: VERDICT_MEANINGS[v] for v in Verdict}, "provenance": reader,
                "name": detector.describe()}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.post("/predict", response_model=PredictResponse, responses={
        400: {"description": "More files than the server accepts in one request"},
        413: {"description": "Upload or pixel count above the limits"},
        415: {"description": "Not an image, or an image that cannot be decoded"},
        503: {"description": "Too many images queued; retry after a moment"},
    })
    async def predict(
        files: Annotated[list[UploadFile], File(description="One or more images (multipart field 'files')")],
    ) -> PredictResponse:
        """Score one or several images. A file that cannot be used gets an `error` in its
        result; when no file at all can be used the request fails with 413 or 415."""
        names = [f.filename or f"file{i + 1}" for i, f in enumerate(files)]
        blobs = [await f.read() for f in files]
        prepared: list[Prepared | UploadRejected] = []
        for name, data, refused in zip(names, blobs, within_request_budget(blobs, names, max_request_pixels, max_pixels)):
            if refused is not None:
                prepared.append(refused)
                continue
            async with decoding:
                try:
                    prepared.append(await run_in_threadpool(prepare_upload, detector, data, name, max_pixels))
                except UploadRejected as exc:
                    prepared.append(exc)
        del blobs
        problems = [p for p in prepared if isinstance(p, UploadRejected)]
        if len(problems) == len(prepared):
            raise HTTPException(problems[0].status, "; ".join(str(p) for p in problems))
        tensors = [p.tensor for p in prepared if isinstance(p, Prepared)]
        try:
            futures = scorer.submit(tensors)
        except Overloaded as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
        try:
            scores = iter(np.concatenate([await asyncio.wrap_future(f) for f in futures]))
        except ModelRunError as exc:  # the model itself failed: a server fault, said plainly
            raise HTTPException(500, str(exc)) from None
        results = []
        for name, item in zip(names, prepared):
            if isinstance(item, UploadRejected):
                results.append(ImageResult(filename=name, error=str(item)))
            else:
                row = detector.scored(0, name, float(next(scores)), item.note, item.provenance)
                if row.error is not None:  # never a verdict from a NaN or a crafted 7.0
                    results.append(ImageResult(filename=name, error=row.error))
                    continue
                results.append(ImageResult(filename=name, probability=row.probability, verdict=row.verdict,
                                           evidence=row.evidence, combined=row.combined, provenance=row.provenance,
                                           note=row.note))
        return PredictResponse(results=results, threshold=detector.threshold)

    return app
