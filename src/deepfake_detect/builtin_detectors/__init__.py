"""Detector folders shipped inside the package (data, no code).

`default/` is the built-in detector that `predict` and `serve` use when given no detector
(see `deepfake_detect.detector.builtin`). Rebuild it from any detector folder with
`scripts/build_builtin_detector.py`.
"""
