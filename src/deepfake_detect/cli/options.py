"""Options shared by several commands, defined once so they read and behave the same everywhere.

`-o/--out` always names where a command's output goes (a folder for commands that make one, a
file for `predict`); `--format` is always the format of rows printed or written. Each choice
(preprocessing policy, runtime, image format, engine) is the library's own definition: a
`Literal` typer turns into a case-insensitive choice, or a registry's names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..data.images import DEFAULT_MAX_PIXELS, ImageFormat  # noqa: F401  (re-exported for the commands)
from ..engines import ENGINES
from ..inference.choice import Runtime
from ..transforms.preprocess import PreprocessPolicy

CacheOption = Annotated[
    Optional[Path], typer.Option("--cache", help="Feature cache folder (env DEEPFAKE_DETECT_CACHE, else the user cache dir)")
]
DataRootOption = Annotated[
    Optional[Path], typer.Option("--data-root", help="Folder holding the named public test sets (env DEEPFAKE_DETECT_DATA)")
]
PreprocessOption = Annotated[
    PreprocessPolicy, typer.Option(
        case_sensitive=False,
        help="resize (to the input size, bicubic) | center_crop (no resampling) | "
        "patches (5 native crops: corners and centre; features averaged)",
    )
]
MaxPerClassOption = Annotated[Optional[int], typer.Option(min=1, help="Sample at most N images per class (seed 0)")]
MaxPixelsOption = Annotated[int, typer.Option(min=1, help="Refuse larger images (decompression bombs)")]
WorkersOption = Annotated[
    Optional[int], typer.Option(min=0, help="Parallel decoding workers (default: min(4, cores); 0: in the main thread)")
]
DeviceOption = Annotated[Optional[str], typer.Option(help="cpu | cuda | cuda:N | mps, one this machine has (default: cuda when available)")]
WeightsOption = Annotated[str, typer.Option(help="'pretrained', 'random', or a local weights file")]


def out_option(help: str) -> typer.models.OptionInfo:
    """The `-o/--out` option: where the command's output goes."""
    return typer.Option("--out", "--output", "-o", help=help)


EngineOption = Annotated[str, typer.Option(
    help="Where the work runs: " + " | ".join(f"{name} ({ENGINES[name].description})" for name in ENGINES))]
DEFAULT_ENGINE = "local"
RayAddressOption = Annotated[
    Optional[str], typer.Option("--ray-address", help="'auto' for the running cluster, ray://HOST:10001, or none to start a local Ray")
]
ShardsOption = Annotated[
    Optional[Path], typer.Option("--shards", help="With --engine ray: folder for the Parquet shards (kept; default: a folder in the cache)")
]
RuntimeOption = Annotated[
    Runtime, typer.Option(
        case_sensitive=False,
        help="auto (ONNX Runtime on a CPU when the model has a graph, else torch) | onnx | torch",
    )
]
ImageFormatOption = Annotated[ImageFormat, typer.Option("--image-format", case_sensitive=False, help="jpeg | png | webp")]

TrustDirOption = Annotated[
    Optional[Path], typer.Option(
        "--trust-dir",
        help="Folder of C2PA trust lists (*.pem anchors, *allowed*.pem, *.cfg); env DEEPFAKE_DETECT_TRUST_DIR. "
             "Without one, signatures are checked but signers are not",
    ),
]
AllowNetworkOption = Annotated[
    bool, typer.Option("--allow-network", help="Let C2PA fetch remote manifests and OCSP answers (default: offline)")
]
WatermarksOption = Annotated[
    bool, typer.Option("--watermarks", help="Also decode Stable Diffusion's invisible watermarks (needs the [watermark] extra)")
]


def provenance_reader(trust_dir: Path | None, allow_network: bool, watermarks: bool):
    """The provenance stage as the options ask for it (trust lists never fetched)."""
    from ..provenance import ProvenanceReader

    return ProvenanceReader(trust=trust_dir, allow_network=allow_network or None, watermarks=watermarks)
