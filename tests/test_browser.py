"""The web page in real headless Chromium: upload images, read each verdict and probability.

Needs Debian's chromium and chromedriver (`make browser` installs them) and the selenium
package; skipped with the reason when any is missing. Set DEEPFAKE_DETECT_SCREENSHOT=FILE.png
to keep a screenshot of the page with its results.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from deepfake_detect.detector import Detector
from deepfake_detect.train import TrainingPlan, train_detector
from deepfake_detect.serve import create_app

from conftest import make_real_fake_folder
from test_serve import LiveServer

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1100,900",
)


def require_browser() -> None:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver not installed (run `make browser` or scripts/install-browser.sh)")
    pytest.importorskip("selenium", reason="selenium not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    return make_real_fake_folder(tmp_path_factory.mktemp("data"), per_class=10, size=96)


@pytest.fixture(scope="module")
def detector(data_folder, tmp_path_factory) -> Detector:
    require_browser()
    root = tmp_path_factory.mktemp("browser")
    plan = TrainingPlan(dataset=str(data_folder), backbone="fft_spectrum", cache=str(root / "cache"))
    return Detector.load(train_detector(plan, root / "detector", workers=0).path)


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="deepfake-detect-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_upload_through_the_page_shows_verdict_and_probability(browser, detector, data_folder, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    fake, real = tmp_path / "fake-sample.png", tmp_path / "real-sample.png"  # distinct names: cards are keyed by them
    shutil.copy(data_folder / "fake" / "img004.png", fake)
    shutil.copy(data_folder / "real" / "img004.png", real)
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is text, not a picture\n")
    expected = {p.name: r for p, r in zip((fake, real), detector.predict([fake, real]))}

    with LiveServer(create_app(detector)) as server:
        browser.get(server.url + "/")
        WebDriverWait(browser, 30).until(EC.text_to_be_present_in_element((By.ID, "model-info"), "fft_spectrum"))
        picker = browser.find_element(By.ID, "file-input")
        picker.send_keys("\n".join(str(p) for p in (fake, real, not_an_image)))
        WebDriverWait(browser, 60).until(
            lambda driver: len(driver.find_elements(By.CSS_SELECTOR, ".result:not([data-state='pending'])")) == 3
        )
        cards = {card.get_attribute("data-filename"): card for card in browser.find_elements(By.CSS_SELECTOR, ".result")}
        for name, result in expected.items():
            card = cards[name]
            assert card.get_attribute("data-state") == "done"
            assert card.find_element(By.CSS_SELECTOR, ".provenance .verdict").text == result.verdict
            shown = card.find_element(By.CSS_SELECTOR, ".probability").text
            assert shown.startswith(f"{100 * result.probability:.1f}%")
            assert float(card.get_attribute("data-probability")) == pytest.approx(result.probability, abs=1e-6)
            assert "small image: 96x96 px" in card.find_element(By.CSS_SELECTOR, ".note").text  # flagged, still scored
            thumbnail = card.find_element(By.CSS_SELECTOR, "img.thumb")
            assert browser.execute_script("return arguments[0].naturalWidth", thumbnail) == 96
        broken = cards["notes.png"]
        assert broken.get_attribute("data-state") == "error"
        assert "not an image" in broken.find_element(By.CSS_SELECTOR, ".error").text
        summary = browser.find_element(By.ID, "summary").text
        assert "3 images" in summary and "1 not scored" in summary and "real" not in summary.split()
        assert "not measured on generators it never saw" in browser.find_element(By.ID, "model-info").text
        assert "not what is true" in browser.find_element(By.ID, "verdict-meaning").text
        screenshot = os.environ.get("DEEPFAKE_DETECT_SCREENSHOT") or str(tmp_path / "page.png")
        assert browser.save_screenshot(screenshot)


def test_the_provenance_panel_names_declarer_and_generator_above_the_score(browser, tmp_path):
    """The built-in detector (central 128 px crop, measured on unseen generators), a file
    signed here with a home-made CA and a PNG with ComfyUI's chunks: the panel says what each
    declares, the header gives the detector's name and measured AUC, the thumbnail marks the crop."""
    pytest.importorskip("cryptography", reason="cryptography not installed (pip install -e '.[test]')")
    from PIL import Image, PngImagePlugin
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from deepfake_detect.provenance import ProvenanceReader
    from provenance_signing import make_ca, sign_jpeg
    from test_provenance import jpeg_bytes

    ca = make_ca("Example Imaging Co.")
    signed = tmp_path / "signed.jpg"
    signed.write_bytes(sign_jpeg(jpeg_bytes(size=600), ca, "trainedAlgorithmicMedia", agent="Example Diffusion 2"))
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", '{"3": {"class_type": "KSampler", "inputs": {}}}')
    comfy = tmp_path / "comfy.png"
    Image.new("RGB", (300, 200), "gray").save(comfy, pnginfo=info)
    reader = ProvenanceReader(trust=ca.write_trust_dir(tmp_path / "trust"))
    detector = Detector.load(provenance=reader)
    with LiveServer(create_app(detector)) as server:
        browser.get(server.url + "/")
        WebDriverWait(browser, 30).until(EC.text_to_be_present_in_element((By.ID, "model-info"), "AUC"))
        header = browser.find_element(By.ID, "model-info").text
        assert detector.description in header and "undefined" not in header
        for test_set in detector.manifest["measured"]["test_sets"]:
            assert f"{test_set['auc']:.3f} ({test_set['name']})" in header
        validation_auc = (detector.manifest.get("validation") or {}).get("metrics", {}).get("auc")
        assert validation_auc is None or f"{validation_auc:.3f}" not in header  # only AUC on unseen generators
        browser.find_element(By.ID, "file-input").send_keys(f"{signed}\n{comfy}")
        WebDriverWait(browser, 60).until(
            lambda driver: len(driver.find_elements(By.CSS_SELECTOR, ".result[data-state='done']")) == 2)
        cards = {c.get_attribute("data-filename"): c for c in browser.find_elements(By.CSS_SELECTOR, ".result")}
        panel = cards["signed.jpg"].find_element(By.CSS_SELECTOR, ".provenance")
        assert panel.find_element(By.CSS_SELECTOR, ".verdict").text == "generated (declared)"
        assert "generated by Example Diffusion 2, declared by Example Imaging Co. (trusted)" in panel.text
        comfy_panel = cards["comfy.png"].find_element(By.CSS_SELECTOR, ".provenance")
        assert comfy_panel.find_element(By.CSS_SELECTOR, ".verdict").text == "likely generated"
        assert "written by ComfyUI" in comfy_panel.text
        for card in cards.values():  # the panel sits above the pixel score
            assert card.find_element(By.CSS_SELECTOR, ".provenance").location["y"] < \
                card.find_element(By.CSS_SELECTOR, ".probability").location["y"]
        region = cards["signed.jpg"].find_element(By.CSS_SELECTOR, ".crop-region")
        image = cards["signed.jpg"].find_element(By.CSS_SELECTOR, "img.thumb")
        shown = browser.execute_script("return Math.min(arguments[0].clientWidth / 600, arguments[0].clientHeight / 600)", image)
        assert region.size["width"] == pytest.approx(128 * shown, abs=3)
        screenshot = os.environ.get("DEEPFAKE_DETECT_SCREENSHOT_PROVENANCE") or str(tmp_path / "provenance.png")
        assert browser.save_screenshot(screenshot)
