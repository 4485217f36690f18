"""Entry point for gunicorn: `gunicorn wsgi:app`.

Production unless SHARAKA_CONFIG says otherwise: a server started without its environment file (a forgotten
EnvironmentFile, `gunicorn wsgi:app` typed by hand) had run the development configuration, signing
sessions with its public key; production refuses to start without a real SECRET_KEY instead.
"""

import os

from dotenv import load_dotenv

load_dotenv()

from app import create_app  # noqa: E402
from config import ConfigurationError  # noqa: E402

try:
    app = create_app(os.environ.get("SHARAKA_CONFIG") or "production")
except ConfigurationError as refusal:
    # gunicorn logs an AppImportError as its message alone, not a traceback, and stops (exit 4, "App failed
    # to load") instead of starting worker after worker that each fail the same way.
    from gunicorn.errors import AppImportError

    raise AppImportError(str(refusal)) from None
