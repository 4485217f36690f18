"""How fast the outbox drains, and whether anything is sent twice (prints figures; asserts nothing).

    .venv/bin/python bench/outbox.py [--messages 10000] [--senders 1 2 4] [--delay 0] [--lease 300]
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/outbox.py --database postgresql

For each number of senders: a fresh database with N queued messages, a local SMTP
server (aiosmtpd), and that many `flask outbox send` processes started at once.
Prints messages per second (wall clock, process start-up included) and duplicates.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds the SMTP server takes per message")
    parser.add_argument(
        "--lease",
        type=int,
        default=300,
        help="MAIL_LEASE_SECONDS (shorter than a batch takes: the heartbeat must keep the batch)",
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    options = parser.parse_args()
    os.environ["SHARAKA_TEST_DB"] = options.database

    from tests.integration.test_notifications_mail import Inbox, mailroom

    print(
        f"{options.database}: {options.messages} messages, batch {options.batch}, "
        f"SMTP delay {options.delay * 1000:.0f} ms per message, lease {options.lease} s"
    )
    print(f"{'senders':>7} {'seconds':>8} {'msg/s':>8} {'delivered':>9} {'duplicates':>10}")
    for senders in options.senders:
        with (
            tempfile.TemporaryDirectory() as folder,
            mailroom(Path(folder)) as room,
            Inbox(room.port, delay=options.delay) as inbox,
        ):
            fill(room, options.messages)
            env = {"MAIL_BATCH_SIZE": str(options.batch), "MAIL_LEASE_SECONDS": str(options.lease)}
            started = time.perf_counter()
            processes = [room.start("outbox", "send", env=env) for _ in range(senders)]
            outputs = [process.communicate()[0] for process in processes]
            elapsed = time.perf_counter() - started
            failed = [output for process, output in zip(processes, outputs) if process.returncode]
            arrived = inbox.message_ids()
            duplicates = sum(arrived.values()) - len(arrived)
            print(
                f"{senders:>7} {elapsed:>8.1f} {len(arrived) / elapsed:>8.0f} {len(arrived):>9} {duplicates:>10}"
                + (f"  ({len(failed)} senders failed: {failed[0][-300:]})" if failed else "")
            )


def fill(room, count: int) -> None:
    """Queue `count` messages in one go (the bench times the sending, not the writing)."""
    from sqlalchemy import insert

    from app.extensions import db
    from app.notifications.models import OutboxMessage

    with room.context():
        run = uuid.uuid4().hex[:8]
        rows = [
            dict(
                to_address=f"person{n % 50}@example.org",
                language="fr",
                category="agreement_ending",
                kind="agreement_ending",
                subject=f"Accord MTNRA-B-{n:05d}",
                body_text="Texte " * 40,
                body_html="<p>" + "Texte " * 40 + "</p>",
                message_id=f"<bench-{run}-{n}@sharaka.test>",
                status="pending",
                attempts=0,
            )
            for n in range(count)
        ]
        for start in range(0, count, 1000):
            db.session.execute(insert(OutboxMessage), rows[start : start + 1000])
        db.session.commit()


if __name__ == "__main__":
    main()
