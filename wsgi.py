"""Entry point for gunicorn: `gunicorn wsgi:app`.

Production unless SHARAKA_CONFIG says otherwise: a server started without its environment file (a forgotten
EnvironmentFile, `gunicorn wsgi:app` typed by hand) had run the development configuration, signing
sessions with its public key; production refuses to start without a real SECRET_KEY instead.
"""

import os

from dotenv import load_dotenv

load_dotenv()

from app import create_app  # noqa: E402

app = create_app(os.environ.get("SHARAKA_CONFIG") or "production")
