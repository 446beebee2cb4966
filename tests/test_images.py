import io
import zlib

import numpy as np
import pytest
from PIL import Image

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
