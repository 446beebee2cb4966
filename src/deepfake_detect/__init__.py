"""deepfake_detect: tell real photographs from generated images.

The package follows the pipeline: data -> transforms -> backbones -> features (cache) ->
reduce -> classify -> evaluate -> report; plus provenance (what a file declares), finetune,
detector, serve and the cli.

The front door, for use from Python::

    import deepfake_detect as dd

    data = dd.load_dataset("photos/")                 # real/ and fake/ folders, a CSV, a named set
    backbone = dd.create_backbone("efficientnet_lite0")
    dd.run_grid(dd.load_config("configs/cifake.yaml"), "runs/cifake")
    detector = dd.load_detector("detectors/demo")
    for row in detector.predict(["a.jpg", "b.png"]):
        print(row.path, row.probability, row.verdict, row.evidence)   # verdict from provenance + pixels

Names are resolved on first use (PEP 562), so `import deepfake_detect` stays instant and the
command line does not pay for torch before it needs it.
"""

from typing import Any

import lazy_loader as lazy

__version__ = "0.1.0"

__getattr__, __dir__, _FRONT_DOOR = lazy.attach(__name__, submod_attrs={
    "data": ["load_dataset"],
    "backbones": ["create_backbone", "list_backbones"],
    "grid.config": ["load_config"],
    "grid": ["run_grid"],
    "detector": ["Detector"],
    "fakes": ["make_fakes"],
    "generators": ["list_generators"],
})
__all__ = [*_FRONT_DOOR, "load_detector", "__version__"]


def load_detector(path: str | None = None, device: str | None = None) -> Any:
    """A trained detector folder, checked (hashes, schema, format version) and ready to predict;
    without a path, the built-in detector that ships with the package."""
    return __getattr__("Detector").load(path, device)


# A library logs and leaves the output to the program: silent unless logging is configured
# (the command line shows these records on its console; see console.cli_output).
import logging as _logging  # noqa: E402

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
