"""A local OpenAI-compatible server over ``weirdgen.models.LocalSampler`` (FastAPI + uvicorn).

``create_app`` builds the app, ``run_server`` serves it in the foreground (``weirdgen serve``), and
``serve_in_background`` serves it on a thread for tests and scripts. FastAPI loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weirdgen._lazy import lazy_attributes

if TYPE_CHECKING:
    from weirdgen.serve.app import create_app
    from weirdgen.serve.background import run_server, serve_in_background
    from weirdgen.serve.errors import ApiError

__all__ = ["ApiError", "create_app", "run_server", "serve_in_background"]

_HOMES = {
    "create_app": "app",
    "run_server": "background",
    "serve_in_background": "background",
    "ApiError": "errors",
}


__getattr__ = lazy_attributes(__name__, _HOMES)
