"""The provenance stage end to end: real files (shared fixtures, files signed here with a
home-made CA, chunks written with Pillow), stripped copies, malformed and mutated inputs,
the verdict table, and `inspect` / `predict` on the command line."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from conftest import run_cli
from deepfake_detect.provenance import Finding, Provenance, ProvenanceReader, Signal, Verdict, decide
from deepfake_detect.provenance.metadata import GENERATORS, generator_findings
from deepfake_detect.provenance.verdict import MAX_WEAK_LOG_ODDS, RULES, raised_probability

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "provenance"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not present (shared provenance fixtures)")


def jpeg_bytes(size: int = 96, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def reencoded(data: bytes) -> bytes:
    """What a screenshot, a messaging app or `convert` does: the pixels, nothing else."""
    with Image.open(io.BytesIO(data)) as image:
        pixels = image.convert("RGB")
    buffer = io.BytesIO()
    pixels.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def ca():
    pytest.importorskip("cryptography", reason="cryptography not installed (pip install -e '.[test]')")
    from provenance_signing import make_ca

    return make_ca()


@pytest.fixture(scope="module")
def home_trust(ca, tmp_path_factory) -> Path:
    return ca.write_trust_dir(tmp_path_factory.mktemp("trust"))


def signed(ca, source_type: str | None, **kwargs) -> bytes:
    from provenance_signing import sign_jpeg

    return sign_jpeg(jpeg_bytes(), ca, source_type, **kwargs)


# --- the verdict table ------------------------------------------------------------------------

def finding(signal: Signal, trusted: bool = False, source: str = "c2pa") -> Finding:
    return Finding(source, signal, f"{source}: {signal.value}", trusted=trusted)


@pytest.mark.parametrize("findings, probability, expected", [
    ([], 0.1, Verdict.NO_EVIDENCE),
    ([], 0.9, Verdict.LIKELY_GENERATED),
    ([finding(Signal.GENERATED, trusted=True)], 0.01, Verdict.GENERATED_DECLARED),
    ([finding(Signal.EDITED, trusted=True)], 0.01, Verdict.EDITED_DECLARED),
    ([finding(Signal.CAPTURE, trusted=True)], 0.99, Verdict.CAMERA_SIGNED),
    ([finding(Signal.CAPTURE, trusted=True), finding(Signal.GENERATED, source="metadata")], 0.1, Verdict.LIKELY_GENERATED),
    ([finding(Signal.CAPTURE)], 0.1, Verdict.NO_EVIDENCE),
    ([finding(Signal.GENERATED)], 0.01, Verdict.LIKELY_GENERATED),
    ([finding(Signal.GENERATED, source="metadata")], 0.01, Verdict.LIKELY_GENERATED),
    ([finding(Signal.TAMPERED), finding(Signal.GENERATED, trusted=True)], 0.5, Verdict.CHANGED_AFTER_SIGNING),
    ([finding(Signal.PROBLEM), finding(Signal.INFO)], 0.1, Verdict.NO_EVIDENCE),
    ([finding(Signal.GENERATED, source="metadata")], None, Verdict.LIKELY_GENERATED),
])
def test_verdict_table(findings, probability, expected):
    decision = decide(probability, 0.5, Provenance(list(findings)))
    assert decision.verdict is expected
    for f in findings:
        assert f.text in decision.evidence


def test_every_rule_is_reachable_and_no_verdict_says_real():
    assert [rule.verdict for rule in RULES] == list(dict.fromkeys(rule.verdict for rule in RULES))
    assert set(rule.verdict for rule in RULES) == set(Verdict)
    assert not any("real" in v.value.split() for v in Verdict)


@pytest.mark.parametrize("probability", [0.0, 0.01, 0.3, 0.5, 0.9, 1.0])
def test_weak_evidence_raises_the_probability_by_a_bounded_amount(probability):
    many = Provenance([finding(Signal.GENERATED, source=s) for s in ("c2pa", "metadata", "xmp", "watermark")] * 3)
    raised = raised_probability(probability, many)
    assert raised >= probability
    if probability < 1.0:
        assert raised < 1.0
        clipped = min(max(probability, 1e-4), 1 - 1e-4)
        assert np.log(raised / (1 - raised)) <= np.log(clipped / (1 - clipped)) + MAX_WEAK_LOG_ODDS + 1e-9
    assert raised_probability(probability, Provenance()) == probability


def test_no_evidence_row_says_what_it_rests_on():
    decision = decide(0.2, 0.634, Provenance())
    assert decision.verdict is Verdict.NO_EVIDENCE
    assert "no provenance data" in decision.evidence and "below the 63% threshold" in decision.evidence


# --- the shared fixtures ----------------------------------------------------------------------

C2PA_EXPECTED = {  # file: (state without trust lists, with them, verdict without, with)
    "C.jpg": ("Valid", "Valid", Verdict.LIKELY_GENERATED, Verdict.LIKELY_GENERATED),
    "CA.jpg": ("Valid", "Valid", Verdict.NO_EVIDENCE, Verdict.NO_EVIDENCE),
    "XCA.jpg": ("Invalid", "Invalid", Verdict.CHANGED_AFTER_SIGNING, Verdict.CHANGED_AFTER_SIGNING),
    "E-sig-CA.jpg": ("Invalid", "Invalid", Verdict.CHANGED_AFTER_SIGNING, Verdict.CHANGED_AFTER_SIGNING),
    "ocsp.jpg": ("Valid", "Trusted", Verdict.LIKELY_GENERATED, Verdict.EDITED_DECLARED),
    "cloud.jpg": (None, None, Verdict.NO_EVIDENCE, Verdict.NO_EVIDENCE),
    "no_manifest.jpg": (None, None, Verdict.NO_EVIDENCE, Verdict.NO_EVIDENCE),
}


@needs_shared
@pytest.mark.parametrize("name", sorted(C2PA_EXPECTED))
def test_c2pa_fixtures_states_and_verdicts_with_and_without_trust_lists(name):
    data = (SHARED / "c2pa" / name).read_bytes()
    without, with_, verdict_without, verdict_with = C2PA_EXPECTED[name]
    for trust, state, verdict in ((None, without, verdict_without), (SHARED / "trust", with_, verdict_with)):
        provenance = ProvenanceReader(trust=trust).read_bytes(data, name)
        states = {f.state for f in provenance.findings if f.source == "c2pa" and f.state}
        assert states == ({state} if state else set()), provenance.findings
        assert decide(0.1, 0.634, provenance).verdict is verdict
    if without == "Valid":
        unchecked = ProvenanceReader().read_bytes(data, name).findings[0].text
        assert "signer not checked" in unchecked and "declared by" in unchecked or "signed by" in unchecked


@needs_shared
def test_firefly_in_photoshop_names_both_and_the_declarer():
    provenance = ProvenanceReader(trust=SHARED / "trust").read_path(SHARED / "c2pa" / "ocsp.jpg")
    (main,) = [f for f in provenance.findings if f.source == "c2pa"]
    assert main.trusted and main.declarer == "Adobe Inc." and main.signal is Signal.EDITED
    assert "Adobe Photoshop" in main.text and "ingredient generated by Adobe Firefly" in main.text
    assert {m["claim_generator"] for m in main.details["manifests"]} >= {"Adobe Photoshop 26.9.0"}


@needs_shared
def test_remote_manifest_is_not_fetched_offline():
    (only,) = ProvenanceReader().read_path(SHARED / "c2pa" / "cloud.jpg").findings
    assert only.signal is Signal.PROBLEM and "stored remotely" in only.text and "not fetched" in only.text


GENERATOR_EXPECTED = {
    "automatic1111_cropped.jpg": "AUTOMATIC1111 / Forge / SD.Next",
    "automatic1111_cropped.png": "AUTOMATIC1111 / Forge / SD.Next",
    "automatic1111_stealth.png": "AUTOMATIC1111 / Forge / SD.Next",
    "fooocus1_cropped.png": "Fooocus",
    "img2img_cropped.png": "ComfyUI",
    "night_evening_day_morning_cropped.png": "ComfyUI",
    "noisy_latents_3_subjects_cropped.png": "ComfyUI",
    "unclip_2pass_cropped.png": "ComfyUI",
    "invokeai_dream1.png": "InvokeAI",
    "invokeai_imeta1.png": "InvokeAI",
    "invokeai_sdmeta1.png": "InvokeAI",
    "novelai1_cropped.png": "NovelAI",
}


@needs_shared
@pytest.mark.parametrize("name", sorted(GENERATOR_EXPECTED))
def test_generator_metadata_fixtures_name_their_tool_and_vanish_when_reencoded(name):
    data = (SHARED / "generator-metadata" / name).read_bytes()
    provenance = ProvenanceReader().read_bytes(data, name)
    assert [f.tool for f in provenance.findings if f.signal is Signal.GENERATED] == [GENERATOR_EXPECTED[name]]
    assert decide(0.05, 0.634, provenance).verdict is Verdict.LIKELY_GENERATED
    assert ProvenanceReader().read_bytes(reencoded(data), "copy.png").findings == []


@needs_shared
@pytest.mark.parametrize("path", sorted((SHARED / "c2pa").glob("*.jpg")) if SHARED.is_dir() else [], ids=lambda p: p.name)
def test_reencoded_c2pa_fixtures_carry_no_claim(path):
    provenance = ProvenanceReader(trust=SHARED / "trust").read_bytes(reencoded(path.read_bytes()), "copy.png")
    assert provenance.findings == []
    assert decide(0.1, 0.634, provenance).verdict is Verdict.NO_EVIDENCE


# --- files made here ----------------------------------------------------------------------------

@pytest.mark.parametrize("source_type, untrusted, trusted", [
    ("trainedAlgorithmicMedia", Verdict.LIKELY_GENERATED, Verdict.GENERATED_DECLARED),
    ("compositeWithTrainedAlgorithmicMedia", Verdict.LIKELY_GENERATED, Verdict.EDITED_DECLARED),
    ("digitalCapture", Verdict.NO_EVIDENCE, Verdict.CAMERA_SIGNED),
])
def test_signed_here_trusted_only_with_the_home_made_root(ca, home_trust, source_type, untrusted, trusted):
    data = signed(ca, source_type)
    plain = ProvenanceReader().read_bytes(data, "x.jpg")
    assert plain.findings[0].state == "Valid" and "signer not checked" in plain.findings[0].text
    assert decide(0.1, 0.5, plain).verdict is untrusted
    checked = ProvenanceReader(trust=home_trust).read_bytes(data, "x.jpg")
    assert checked.findings[0].state == "Trusted" and checked.findings[0].declarer == "Test Generator Inc."
    assert decide(0.1, 0.5, checked).verdict is trusted
    assert "declared by Test Generator Inc. (trusted)" in decide(0.1, 0.5, checked).evidence
    assert ProvenanceReader(trust=home_trust).read_bytes(reencoded(data), "x.png").findings == []


def test_pixels_changed_after_signing_is_told(ca, home_trust):
    data = bytearray(signed(ca, "digitalCapture"))
    data[-200] ^= 0xFF  # inside the entropy-coded image data, after the manifest
    provenance = ProvenanceReader(trust=home_trust).read_bytes(bytes(data), "x.jpg")
    assert decide(0.1, 0.5, provenance).verdict is Verdict.CHANGED_AFTER_SIGNING
    assert any("does not verify" in f.text for f in provenance.findings)


def test_generator_chunks_written_with_pillow(tmp_path):
    rows = {"parameters": "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Model: sd15",
            "prompt": json.dumps({"3": {"class_type": "KSampler", "inputs": {}}}),
            "invokeai_metadata": "{}", "fooocus_scheme": "fooocus"}
    for key, text in rows.items():
        info = PngImagePlugin.PngInfo()
        info.add_text(key, text)
        path = tmp_path / f"{key}.png"
        Image.new("RGB", (32, 32), "gray").save(path, pnginfo=info)
        assert ProvenanceReader().read_path(path).weak_ai, key
    exif = Image.Exif()
    exif[0x0131] = "Midjourney 6"
    path = tmp_path / "software.jpg"
    Image.new("RGB", (32, 32)).save(path, exif=exif)
    assert [f.tool for f in ProvenanceReader().read_path(path).findings] == ["Midjourney"]


def test_every_generator_row_matches_its_own_example():
    examples = {"AUTOMATIC1111 / Forge / SD.Next": "x\nSteps: 20, Sampler: Euler", "ComfyUI": '{"class_type": 1, "nodes": []}',
                "InvokeAI": "{}", "Fooocus": "fooocus", "NovelAI": 'NovelAI {"uc": 1}', "Midjourney": "Job ID: " + "a" * 36}
    for rule in GENERATORS:
        value = examples.get(rule.tool, rule.tool)
        if rule.tool == "ComfyUI" and rule.fields[0].startswith("exif"):
            value = "workflow: {}"
        found = generator_findings({rule.fields[0]: value})
        assert [f.tool for f in found] == [rule.tool], rule


def test_xmp_digital_source_type_and_creator_tool(tmp_path):
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:CreatorTool="Stable Diffusion XL" '
           'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
           '</rdf:RDF></x:xmpmeta>')
    path = tmp_path / "x.jpg"
    Image.new("RGB", (32, 32)).save(path, xmp=xmp.encode())
    provenance = ProvenanceReader().read_path(path)
    assert {(f.source, f.signal) for f in provenance.findings} == {("xmp", Signal.GENERATED), ("metadata", Signal.GENERATED)}
    assert decide(0.01, 0.5, provenance).verdict is Verdict.LIKELY_GENERATED


# --- bad input --------------------------------------------------------------------------------

def png_with_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, "PNG")
    data = buffer.getvalue()
    head, tail = data[:33], data[33:]  # signature + IHDR, then the rest
    extra = b"".join(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
                     for kind, body in chunks)
    return head + extra + tail


def test_malformed_inputs_are_findings_not_crashes(ca):
    good = signed(ca, "trainedAlgorithmicMedia")
    start = good.index(b"jumb")
    cases = {
        "truncated JUMBF": good[: start + 200],
        "corrupt JUMBF": good[:start + 40] + bytes(64) + good[start + 104:],
        "50 MB XMP": png_with_chunks([(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + b"<x:xmpmeta>" + b" " * 50_000_000)]),
        "10,000 text chunks": png_with_chunks([(b"tEXt", b"k%d\x00v" % i) for i in range(10_000)]),
        "not an image": b"hello, I am text",
        "empty": b"",
    }
    found = {}
    for what, data in cases.items():
        found[what] = ProvenanceReader().read_bytes(data, "x.png")
        assert all(isinstance(f, Finding) for f in found[what].findings), what
        decide(0.1, 0.5, found[what])  # always a verdict
    assert any("over the 1 MB read limit" in f.text for f in found["50 MB XMP"].findings)
    assert [f.signal for f in found["truncated JUMBF"].findings] == [Signal.PROBLEM]  # the file ends inside the box
    assert any(f.source == "c2pa" and "unreadable" in f.text for f in found["corrupt JUMBF"].findings)
    assert any("not an image" in f.text for f in found["not an image"].findings)


def test_a_lying_extension_is_named_and_the_content_is_read(ca, tmp_path):
    path = tmp_path / "really-a-jpeg.png"
    path.write_bytes(signed(ca, "trainedAlgorithmicMedia"))
    provenance = ProvenanceReader().read_path(path)
    assert provenance.format == "JPEG"
    assert any("name says .png but the bytes are JPEG" in f.text for f in provenance.findings)
    assert any(f.signal is Signal.GENERATED and f.source == "c2pa" for f in provenance.findings)


@pytest.mark.parametrize("count", [300, pytest.param(3000, marks=pytest.mark.slow)])
def test_fuzzed_files_never_raise(ca, count):
    """Mutations (flipped bytes, cuts, repeated spans) of a signed JPEG and a chunk-laden PNG."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "x\nSteps: 20, Sampler: Euler")
    buffer = io.BytesIO()
    Image.new("RGBA", (24, 24)).save(buffer, "PNG", pnginfo=info)
    seeds = [signed(ca, "trainedAlgorithmicMedia"), buffer.getvalue()]
    reader, rng = ProvenanceReader(), random.Random(0)
    for i in range(count):
        data = bytearray(seeds[i % 2])
        for _ in range(rng.randint(1, 8)):
            if not data:
                break
            at = rng.randrange(len(data))
            kind = rng.random()
            if kind < 0.6:
                data[at] = rng.randrange(256)
            elif kind < 0.8:
                del data[at : at + rng.randint(1, 512)]
            else:
                data[at:at] = data[at : at + rng.randint(1, 256)]
        provenance = reader.read_bytes(bytes(data), "fuzz.jpg")
        decide(0.5, 0.5, provenance)


# --- watermarks (optional extra) -----------------------------------------------------------------

def test_watermark_decoder_matches_the_library_and_finds_an_sdxl_mark():
    pytest.importorskip("imwatermark", reason="invisible-watermark not installed (pip install 'deepfake-detect[watermark]')")
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    from deepfake_detect.provenance.watermark import SDXL_BITS, block_bits, decode, read_watermarks

    rng = np.random.default_rng(0)
    photo = np.clip(np.kron(rng.integers(30, 220, (20, 20, 3)), np.ones((16, 16, 1))) + rng.normal(0, 8, (320, 320, 3)),
                    0, 255).astype(np.uint8)
    library = WatermarkDecoder("bits", 48).decode(photo, "dwtDct")
    assert list(decode(block_bits(photo), 48)) == list(library)
    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", SDXL_BITS)
    marked = encoder.encode(photo, "dwtDct")  # an RGB array handed over as BGR, as diffusers does
    found = read_watermarks(Image.fromarray(marked))
    assert [f.tool for f in found] == ["Stable Diffusion XL (diffusers)"] and found[0].details["order"] == "RGB"
    assert read_watermarks(Image.fromarray(photo)) == []
    resized = Image.fromarray(marked).resize((280, 280))  # resizing destroys the block grid the mark lives in
    assert read_watermarks(resized) == []


# --- the command line ------------------------------------------------------------------------------

@needs_shared
def test_inspect_prints_every_finding_and_predict_carries_them(tmp_path):
    done = run_cli("inspect", SHARED / "c2pa" / "ocsp.jpg", SHARED / "generator-metadata" / "img2img_cropped.png",
                   "--trust-dir", SHARED / "trust", "--format", "jsonl")
    assert done.exit_code == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["verdict"] for r in rows] == ["edited with AI (declared)", "likely generated"]
    assert rows[0]["provenance"]["findings"][0]["declarer"] == "Adobe Inc."
    table = run_cli("inspect", SHARED / "c2pa" / "cloud.jpg", SHARED / "c2pa" / "XCA.jpg")
    assert "stored remotely" in table.stdout and "[Invalid]" in table.stdout
    assert "verdict from this evidence alone: changed after signing" in table.stdout
    assert "signers not checked" in table.stderr
    out = tmp_path / "rows.json"
    done = run_cli("predict", SHARED / "c2pa", SHARED / "generator-metadata", "-o", out)
    assert done.exit_code == 0, done.stderr
    rows = {Path(r["path"]).name: r for r in json.loads(out.read_text())}
    assert rows["C.jpg"]["verdict"] == "likely generated" and "Make Test Images" in rows["C.jpg"]["evidence"]
    assert rows["XCA.jpg"]["verdict"] == "changed after signing"
    assert rows["img2img_cropped.png"]["evidence"].startswith("metadata: written by ComfyUI")
    assert all(r["verdict"] != "real" and "evidence" in r and "provenance" in r for r in rows.values())
    assert "only the central 128x128 px" in rows["C.jpg"]["note"]


def test_the_api_returns_verdict_evidence_and_findings(ca, home_trust):
    from fastapi.testclient import TestClient

    from deepfake_detect.detector import Detector
    from deepfake_detect.serve import create_app

    detector = Detector.load(provenance=ProvenanceReader(trust=home_trust))
    files = [("files", ("signed.jpg", signed(ca, "compositeWithTrainedAlgorithmicMedia"), "image/jpeg")),
             ("files", ("plain.png", reencoded(signed(ca, "compositeWithTrainedAlgorithmicMedia")), "image/png"))]
    with TestClient(create_app(detector)) as client:
        edited, plain = client.post("/predict", files=files).json()["results"]
        meanings = client.get("/verdicts").json()["meanings"]
    assert edited["verdict"] == "edited with AI (declared)" and "(trusted)" in edited["evidence"]
    assert edited["provenance"]["findings"][0]["state"] == "Trusted" and 0 <= edited["probability"] <= 1
    assert plain["verdict"] in ("no evidence found", "likely generated") and plain["provenance"]["findings"] == []
    assert set(meanings) == {v.value for v in Verdict}


def test_a_claim_in_the_parent_ingredient_is_found(ca, home_trust):
    """ChatGPT's case: the active manifest only opens and converts; the generation is declared by the
    ingredient it was opened from."""
    from provenance_signing import sign_jpeg

    parent = signed(ca, "trainedAlgorithmicMedia", agent="Example DALL-E")
    child = sign_jpeg(jpeg_bytes(seed=1), ca, None, agent="Example Chat", action="c2pa.opened", parent=parent)
    provenance = ProvenanceReader(trust=home_trust).read_bytes(child, "chat.jpg")
    (main,) = [f for f in provenance.findings if f.source == "c2pa"]
    assert main.signal is Signal.GENERATED and main.tool == "Example DALL-E" and main.state == "Trusted"
    assert len(main.details["manifests"]) == 2
    assert decide(0.05, 0.5, provenance).verdict is Verdict.GENERATED_DECLARED


@needs_shared
def test_reading_never_touches_the_network_unless_allowed(tmp_path):
    """Every connect() of the process and its threads, as the kernel sees them (native code too)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("strace") is None:
        pytest.skip("strace not installed: cannot watch the process's system calls")
    log = tmp_path / "calls.log"
    command = ["strace", "-f", "-e", "trace=connect", "-o", str(log), sys.executable, "-m", "deepfake_detect", "inspect",
               str(SHARED / "c2pa"), str(SHARED / "generator-metadata"), "--trust-dir", str(SHARED / "trust")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stored remotely" in done.stdout
    assert "connect(" not in log.read_text()
