"""The scheduler as its own process: it applies due date-driven moves, and stops on SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask_migrate import upgrade

from app.agreements.models import Agreement
from app.core import clock
from app.extensions import db
from app.workflow.engine import settle_state
from tests import factories
from tests.conftest import make_test_app
from tests.databases import backend, fresh_database

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]


def test_scheduler_process_activates_due_agreements(tmp_path):
    with fresh_database(tmp_path, "sched") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade()
            world = factories.build_world()
            due = factories.agreement(
                by=world.users["officer"],
                partners=[world.partner_a],
                state="signed",
                signed_on=clock.today() - timedelta(days=10),
                effective_on=clock.today() - timedelta(days=1),
            )
            later = factories.agreement(
                by=world.users["officer"],
                partners=[world.partner_a],
                state="signed",
                signed_on=clock.today() - timedelta(days=10),
                effective_on=clock.today() + timedelta(days=30),
            )
            for agreement in (due, later):
                settle_state(agreement)
            db.session.commit()
            due_id, later_id = due.id, later.id
            db.session.remove()
            db.engine.dispose()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SHARAKA_CONFIG": "development",
            "FLASK_APP": "app",
            "SHARAKA_INSTANCE_DIR": str(tmp_path),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "scheduler", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            # As long as the process lives: on a busy machine its start-up alone may take many seconds.
            deadline = time.time() + 300
            state = None
            while time.time() < deadline and process.poll() is None:
                with app.app_context():
                    state = db.session.get(Agreement, due_id).state
                    db.session.remove()
                if state == "active":
                    break
                time.sleep(0.3)
            assert state == "active"
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=20)
        assert process.returncode == 0, output
        with app.app_context():
            assert db.session.get(Agreement, later_id).state == "signed"
            db.session.remove()
            db.engine.dispose()
        assert "date transitions" in output
        if backend() == "sqlite":
            assert "Traceback" not in output
