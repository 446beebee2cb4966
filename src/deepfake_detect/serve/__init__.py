"""Serving a detector over HTTP: `create_app(detector)` (FastAPI) and a small web page."""

from .app import create_app

__all__ = ["create_app"]
