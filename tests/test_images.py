import io
import zlib

import numpy as np
import pytest
from PIL import Image

from deepfake_detect.data import images
from deepfake_detect.data.images import BadImage, decode_rgb, load_rgb


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "mode, fmt",
    [("L", "PNG"), ("CMYK", "JPEG"), ("P", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("1", "PNG"), ("RGB", "WEBP")],
)
def test_every_mode_becomes_8bit_rgb(mode, fmt):
    img = Image.new(mode, (24, 16))
    out = decode_rgb(encode(img, fmt))
    assert out.mode == "RGB" and out.size == (24, 16)


def test_sixteen_bit_keeps_its_tonal_range(bad_files):
    out = np.asarray(load_rgb(bad_files["sixteen_bit"]))
    assert out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255  # rescaled, not clipped to white
    assert 100 < out.mean() < 155


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (16, 16), (10, 20, 30, 0))
    assert decode_rgb(encode(img, "PNG")).getpixel((0, 0)) == (255, 255, 255)


def test_truncated_and_non_images_name_the_file(bad_files):
    for key in ("truncated", "text"):
        with pytest.raises(BadImage) as info:
            load_rgb(bad_files[key])
        assert str(bad_files[key]) in str(info.value)
    with pytest.raises(BadImage, match="not an image"):
        load_rgb(bad_files["text"])


def test_pixel_limit_refuses_before_decoding():
    data = encode(Image.new("RGB", (1000, 1000)), "PNG")
    with pytest.raises(BadImage, match="above the limit"):
        decode_rgb(data, "big.png", max_pixels=999_999)
    assert decode_rgb(data, max_pixels=1_000_000).size == (1000, 1000)


def test_decompression_bomb_header_is_refused_without_allocating():
    # A PNG header claiming 100k x 100k pixels; refused from the header alone.
    data = encode(Image.new("L", (1, 1)), "PNG")
    header = b"IHDR" + (100_000).to_bytes(4, "big") * 2 + data[24:29]
    bomb = data[:12] + header + zlib.crc32(header).to_bytes(4, "big") + data[33:]
    with pytest.raises(BadImage, match="decompression bomb"):
        decode_rgb(bomb, "bomb.png")


def test_missing_file_is_a_bad_image(tmp_path):
    with pytest.raises(BadImage, match="cannot read"):
        load_rgb(tmp_path / "gone.png")


def two_colour_image(width: int = 64, height: int = 32) -> Image.Image:
    """Red left half, blue right half: any rotation or mirror shows in the corners."""
    img = Image.new("RGB", (width, height), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, width // 2, height))
    return img


def with_orientation(upright: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    """The file a phone writes: pixels stored as the sensor saw them, plus the EXIF tag that
    says how to turn them upright."""
    stored = upright.transpose(_INVERSE_OF_ORIENTATION[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))


_INVERSE_OF_ORIENTATION = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,  # tag 6 means "rotate 90 clockwise to view"
    8: Image.Transpose.ROTATE_270,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
}


def assert_upright(out: Image.Image, size: tuple[int, int]) -> None:
    pixels = np.asarray(out).astype(int)
    assert out.size == size
    assert pixels[2, 2, 0] > 200 and pixels[2, 2, 2] < 60  # top left is red
    assert pixels[-3, -3, 2] > 200 and pixels[-3, -3, 0] < 60  # bottom right is blue


@pytest.mark.parametrize("orientation", sorted(_INVERSE_OF_ORIENTATION))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_is_applied_once(orientation, fmt):
    upright = two_colour_image()
    assert_upright(decode_rgb(with_orientation(upright, orientation, fmt)), upright.size)


def test_exif_orientation_is_applied_after_jpeg_draft():
    upright = two_colour_image(256, 128)
    out = decode_rgb(with_orientation(upright, 6), draft_size=64)
    assert out.size[0] < 256  # the draft did scale down while decoding
    assert_upright(out, (out.size[0], out.size[0] // 2))


def test_tagged_and_upright_files_give_the_same_pixels(tmp_path):
    rng = np.random.default_rng(0)
    upright = Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    tagged = tmp_path / "phone.png"
    tagged.write_bytes(with_orientation(upright, 8, "PNG"))
    assert np.array_equal(np.asarray(load_rgb(tagged)), np.asarray(upright))


@pytest.mark.parametrize("size", [(1, 1), (15, 400), (400, 15)])
def test_images_too_small_to_judge_are_refused_by_name(tmp_path, size):
    path = tmp_path / "tiny.png"
    Image.new("RGB", size).save(path)
    with pytest.raises(BadImage, match=rf"tiny.png: too small to carry evidence: {size[0]}x{size[1]} px, minimum 16"):
        load_rgb(path)


def test_smallest_allowed_image_decodes():
    side = images.MIN_IMAGE_SIDE
    assert decode_rgb(encode(Image.new("RGB", (side, side)), "PNG")).size == (side, side)


def test_heic_phone_photos_decode(tmp_path):
    pytest.importorskip("pillow_heif", reason="pillow-heif is a dependency; absent in this venv")
    path = tmp_path / "IMG_0001.HEIC"
    two_colour_image().save(path, format="HEIF", quality=95)
    assert images.is_image_path(path)
    assert_upright(load_rgb(path), (64, 32))


def test_heic_without_a_decoder_is_named_as_unsupported(tmp_path, monkeypatch):
    pytest.importorskip("pillow_heif", reason="needs pillow-heif to write the HEIC file")
    path = tmp_path / "IMG_0002.heic"
    two_colour_image().save(path, format="HEIF")
    monkeypatch.setattr(images, "ALLOWED_FORMATS", tuple(f for f in images.ALLOWED_FORMATS if f != "HEIF"))
    with pytest.raises(BadImage, match="IMG_0002.heic: unsupported format: HEIC"):
        load_rgb(path)


def test_formats_outside_the_photo_list_never_reach_their_decoder(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    calls = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *args, **kwargs: calls.append(args))
    path = tmp_path / "drawing.eps"
    Image.new("RGB", (32, 32), (10, 200, 10)).save(path, format="EPS")
    with pytest.raises(BadImage, match="drawing.eps: not an image in a supported format"):
        load_rgb(path)
    assert not calls


def test_an_open_pil_image_gets_the_same_pixels_as_its_bytes():
    data = with_orientation(two_colour_image(), 6)
    opened = Image.open(io.BytesIO(data))
    out = images.as_upright_rgb(opened, "upload")
    assert np.array_equal(np.asarray(out), np.asarray(decode_rgb(data)))
    assert opened.size == (32, 64)  # the caller's image is left as it was
    with pytest.raises(BadImage, match="upload: too small"):
        images.as_upright_rgb(Image.new("RGB", (8, 8)), "upload")
