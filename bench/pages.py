"""How fast the main pages answer with a large portfolio (prints figures; asserts nothing).

    .venv/bin/python bench/pages.py [--agreements 1000] [--requests 50]

Builds a temporary SQLite database with the demo portfolio plus N generated
agreements, signs in as an officer and times the pages through the WSGI app.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402
from app.agreements import services as agreement_services  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.demo.loader import demo_sign_ins, load_demo  # noqa: E402
from app.extensions import db  # noqa: E402
from app.organizations.models import Organization  # noqa: E402
from config import DevelopmentConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agreements", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = type("Bench", (DevelopmentConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite",
                                                      "UPLOAD_DIR": tmp})
        app = create_app(config)
        with app.app_context():
            upgrade()
            load_demo()
            officer = db.session.scalar(db.select(User).where(User.role == "officer"))
            partners = db.session.scalars(db.select(Organization).where(Organization.is_home.is_(False))).all()
            started = time.perf_counter()
            for number in range(args.agreements):
                agreement_services.create_agreement(agreement_services.AgreementData(
                    type="mou", title_fr=f"Accord de référence {number}",
                    parties=[(partners[number % len(partners)].id, "partner")]), by=officer)
            db.session.commit()
            print(f"created {args.agreements} agreements in {time.perf_counter() - started:.1f} s")
        account = next(row for row in demo_sign_ins() if row["role"] == "officer")
        client = app.test_client()
        page = client.get("/sign-in").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/sign-in", data={"email": account["email"], "password": account["password"],
                                      "csrf_token": token})
        with app.app_context():
            from app.api.tokens import create_token

            _row, secret = create_token(db.session.scalar(db.select(User).where(User.email == account["email"])),
                                        "bench", by=None)
            db.session.commit()
        bearer = {"Authorization": f"Bearer {secret}"}
        for label, path in (("agreements list", "/agreements/"), ("list, search", "/agreements/?q=reference 99"),
                            ("agreement page", "/agreements/1"), ("inbox", "/inbox"),
                            ("deliverables", "/deliverables/"), ("workflow page", "/workflows/mou"),
                            ("dashboard", "/dashboard"), ("board", "/portfolio/board"),
                            ("timeline", "/portfolio/timeline"), ("calendar", "/portfolio/calendar"),
                            ("stage analytics", "/portfolio/analytics"), ("CSV export", "/agreements/export.csv"),
                            ("XLSX export", "/agreements/export.xlsx"), ("API list", "/api/v1/agreements"),
                            ("API agreement", "/api/v1/agreements/1"), ("notifications", "/notifications")):
            timings = []
            for _ in range(args.requests):
                start = time.perf_counter()
                response = client.get(path, headers=bearer if path.startswith("/api/") else None)
                timings.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            timings.sort()
            print(f"{label:18} median {statistics.median(timings):7.1f} ms   p90 {timings[int(len(timings) * 0.9)]:7.1f} ms"
                  f"   ({args.requests} requests, {args.agreements} extra agreements)")


if __name__ == "__main__":
    main()
