"""Importing a portfolio from a spreadsheet (app/agreements/importing.py), on SQLite or PostgreSQL: for a file
of N rows, the check alone, then the import, for three kinds of rows: drafts, agreements signed before
Sharaka (taken to the signature stage), and signed ones whose signatories the file names (recorded there).

    .venv/bin/python bench/imports.py [--db sqlite|postgresql] [--rows 100]

Each kind on a fresh database with the demo loaded (bench/pages.py's `database`), imported by the demo's
manager through the service the page and the API call, in one transaction as a request does. Prints the
seconds of each step and the rows a second; asserts nothing. The page imports at most
importing.MAX_ROWS rows a file in one request: this says how long that request takes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pages import database, platform_line  # noqa: E402

KINDS = {
    "drafts": ("", "", ""),
    "signed": ("15/07/2025", "", ""),
    "signed with signatories": ("15/07/2025", "La ministre (illustrative)", "Signataire UM6P; Signataire Mistral"),
}


def spreadsheet(rows: int, kind: str) -> bytes:
    signed_on, ministry, partners = KINDS[kind]
    lines = ["type;title_fr;partners;signed_on;expires_on;ministry_signatory;partner_signatories"]
    lines += [
        f'mou;Accord importé {n} (illustrative);"UM6P; Mistral AI";{signed_on};2029-07-14;{ministry};"{partners}"'
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


def measure(url: str, tmp: Path, rows: int, kind: str) -> tuple[float, float]:
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import create_app
    from app.agreements import importing
    from app.auth.models import User
    from app.demo.loader import load_demo
    from app.extensions import db
    from config import ProductionConfig

    config = type("Bench", (ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": str(tmp)})
    app = create_app(config)
    content = spreadsheet(rows, kind)
    with app.app_context(), app.test_request_context():
        upgrade()
        load_demo()
        db.session.commit()
        manager = db.session.scalar(select(User).where(User.email == "karim.manager@sharaka.example"))
        started = time.perf_counter()
        checked = importing.check(content, "portfolio.csv")
        db.session.rollback()
        check_seconds = time.perf_counter() - started
        assert checked.ok, [row.errors for row in checked.refused_rows][:3]
        started = time.perf_counter()
        importing.import_agreements(content, "portfolio.csv", by=manager, reason="Signed before Sharaka (bench)")
        db.session.commit()
        import_seconds = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    return check_seconds, import_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100)
    args = parser.parse_args()
    print(platform_line())
    print(f"{args.db}, {args.rows} rows a file")
    print(f"{'rows':<26}{'check (s)':>10}{'import (s)':>12}{'rows/s':>9}")
    for kind in KINDS:
        with tempfile.TemporaryDirectory() as folder, database(args.db, Path(folder)) as url:
            check_seconds, import_seconds = measure(url, Path(folder), args.rows, kind)
        print(f"{kind:<26}{check_seconds:>10.2f}{import_seconds:>12.2f}{args.rows / import_seconds:>9.0f}")


if __name__ == "__main__":
    main()
