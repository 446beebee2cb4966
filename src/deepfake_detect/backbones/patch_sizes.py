"""The registered sizes of the patch networks, as data (no torch): both the registry entries
(patch_entries.py) and the networks (patchnet.py) read them, so neither imports the other."""

PATCH_WIDTHS: dict[str, tuple[int, tuple[int, ...]]] = {
    "": (16, (32, 64, 128, 192)),  # patchnet_npr: 0.87 M parameters
    "_s": (16, (16, 32, 64, 96)),  # patchnet_npr_s: 0.22 M, small enough to ship in the package
}
"""Name suffix -> (stem width, stage widths); the last stage width is the feature size."""
