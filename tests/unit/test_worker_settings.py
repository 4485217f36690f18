"""gunicorn.conf.py's hooks, called as a gunicorn worker calls them."""

from __future__ import annotations

import gc
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.backend_neutral

SETTINGS = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))


def test_a_worker_freezes_once_what_its_first_requests_built():
    post_request, after = SETTINGS["post_request"], SETTINGS["FREEZE_AGAIN_AFTER"]
    try:
        before = gc.get_freeze_count()
        post_request(SimpleNamespace(nr=after - 1), None, {}, None)
        assert gc.get_freeze_count() == before
        built = [[] for _ in range(1000)]  # what the first requests left for the worker's lifetime
        post_request(SimpleNamespace(nr=after), None, {}, None)
        frozen = gc.get_freeze_count()
        assert frozen >= before + len(built)
        post_request(SimpleNamespace(nr=after + 1), None, {}, None)
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
