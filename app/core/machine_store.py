"""What this machine's workers keep for each other: one store on disk (KEPT_PAGES_DIR, diskcache) that
every worker of the server reads and writes. A page or a figure one worker computed serves the request
that lands on another (gunicorn hands requests to whichever worker is free), and a worker replaced after
its `max_requests` starts with what the others kept. Kept per process, each was found one time in as many
as there are workers.

What is kept outlives the process that computed it, so its key also names what computed it (`drawn_with`):
the app's code, templates, translations and workflow files, the Python and packages it runs on, and its
settings. After a deployment, an upgrade or a changed setting nothing kept before is found.

The store failing (a full disk, a directory that cannot be written, a value written by other code) only
means computing again: logged, never an error page. The directory is the server account's alone (0700):
pages name people, and what is read back from it is unpickled (figures), so only that account may write it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import sqlite3
import sys
import sysconfig
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import diskcache
from flask import Flask, current_app

log = logging.getLogger(__name__)

# About 20-40 KB a page once compressed: some 3,000 pages before the least recently kept go.
STORE_BYTES = 128 * 2**20
# A request never waits on the store: past this, it computes (or keeps nothing) instead.
STORE_WAIT_SECONDS = 0.25
_WRITE_FAILURES = (OSError, sqlite3.Error, diskcache.Timeout, pickle.PicklingError, TypeError, AttributeError)
# Reading also unpickles: a value the present code cannot read back is not found.
_READ_FAILURES = (*_WRITE_FAILURES, pickle.UnpicklingError, EOFError, ImportError, ValueError)
_stores: dict[str, diskcache.Cache] = {}  # this process's handle on each directory
_DRAWN_WITH = "machine_store.drawn_with"  # in app.extensions: read once, settings do not change as an app runs


def find(key: str, default: Any = None) -> Any:
    """The value kept under `key`, or `default` (nothing kept, or the store could not be read)."""
    try:
        return _store().get(key, default)
    except diskcache.Timeout:  # busy (a crowd of workers keeping at once): expected under load, no traceback
        log.info("the kept values' store was busy; computed instead")
    except _READ_FAILURES:
        log.warning("a kept value could not be read; computed instead", exc_info=True)
    return default


def keep(key: str, value: Any, seconds: int) -> None:
    """Keep `value` under `key` for at most `seconds` (bytes as they are; anything else pickled)."""
    try:
        _store().set(key, value, expire=seconds)
    except diskcache.Timeout:
        log.info("the kept values' store was busy; not kept")
    except _WRITE_FAILURES:
        log.warning("a value could not be kept", exc_info=True)


def forget(app: Flask) -> None:
    """Drop everything kept in the stores this process opened and let go of them, and what `app` draws
    with, to be read again (tests, which change settings as they run)."""
    app.extensions.pop(_DRAWN_WITH, None)
    for store in _stores.values():
        store.clear()
        store.close()
    _stores.clear()


def plain(value) -> bool:
    """A value written the same in every process: not an object, whose text names its address, nor a set,
    whose order changes with the process's hash seed."""
    if isinstance(value, (str, int, float, bool, type(None), Decimal, date, timedelta)):
        return True
    if isinstance(value, (list, tuple)):
        return all(plain(each) for each in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and plain(each) for key, each in value.items())
    return False


def drawn_with(app: Flask) -> str:
    """A digest of what draws this app's pages and figures besides the data: its code, templates,
    translations and workflow files (each file's path, size and time of change), the Python and the
    packages it runs on, and its settings. Different after a deployment, a `git pull`, a package
    upgraded or a changed setting, the same in every worker of one."""
    digest = app.extensions.get(_DRAWN_WITH)
    if digest is None:
        config = app.config
        settings = {key: value for key, value in config.items() if plain(value)}
        drawing = (app.root_path, app.template_folder, config["WORKFLOWS_DIR"])
        folders = tuple(str(Path(folder).resolve()) for folder in drawing if folder)
        text = json.dumps([files_digest(folders), installed(), settings], default=str, sort_keys=True)
        digest = app.extensions[_DRAWN_WITH] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return digest


@cache
def files_digest(folders: tuple[str, ...]) -> str:
    listed = []
    for folder in folders:
        for parent, directories, files in os.walk(folder):
            directories[:] = sorted(d for d in directories if d != "__pycache__")  # written as it runs
            for name in sorted(files):
                status = os.stat(os.path.join(parent, name))
                listed.append(f"{parent}/{name}:{status.st_size}:{status.st_mtime_ns}")
    return hashlib.sha256("\n".join(listed).encode()).hexdigest()


@cache
def installed() -> tuple[str, ...]:
    """The Python and the packages installed beside the app: each package's metadata folder is named by
    its version (`Flask-3.1.2.dist-info`), so listing the folders, about a millisecond, names them all."""
    folders = sorted({sysconfig.get_paths()[kind] for kind in ("purelib", "platlib")})
    return (
        sys.version,
        *sorted(
            name
            for folder in folders
            if os.path.isdir(folder)
            for name in os.listdir(folder)
            if name.endswith((".dist-info", ".egg-info"))
        ),
    )


def folder_problem(config) -> str | None:
    """Why KEPT_PAGES_DIR cannot hold the store, or None (nor when nothing is kept). A file where the folder
    should be, or a folder this account cannot make or write, had started, then logged a traceback at every
    page kept or read: said at the start instead, as every setting is. The folder is made now if need be."""
    if not (config.get("PAGES_KEPT") or config.get("FIGURES_KEPT")):
        return None
    folder = config["KEPT_PAGES_DIR"]
    way_out = "give a folder this account may write, or keep nothing (PAGES_KEPT=false and FIGURES_KEPT=false)."
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)  # the server's account alone (see above)
    except FileExistsError:
        return f"KEPT_PAGES_DIR={folder!r} is a file, not a folder: {way_out}"
    except OSError as error:
        return f"KEPT_PAGES_DIR={folder!r}: the folder cannot be made ({error.strerror}): {way_out}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"KEPT_PAGES_DIR={folder!r} cannot be written by this account: {way_out}"
    return None


def _store() -> diskcache.Cache:
    directory = current_app.config["KEPT_PAGES_DIR"]
    store = _stores.get(directory)
    if store is None:
        os.makedirs(directory, mode=0o700, exist_ok=True)  # the server's account alone (see above)
        store = diskcache.Cache(
            directory,
            size_limit=STORE_BYTES,
            eviction_policy="least-recently-stored",  # not -used: a read then writes nothing
            timeout=STORE_WAIT_SECONDS,
        )
        _stores[directory] = store
    return store
