"""The outbox under contention, with real processes, a real SMTP server and a real database.

Several `flask outbox send` processes, two `flask scheduler run` processes, a slow SMTP
server that takes longer per message than the lease lasts, and senders killed with
SIGKILL at random moments. The evidence is what arrives at the SMTP server: every
message, and no duplicate unless a process was killed (then at most one per kill).
Backlogs are kept to hundreds so the suite stays fast; `bench/outbox.py` sends 10,000.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.notifications.models import OutboxMessage
from app.notifications.outbox import claim_statement
from tests.databases import backend
from tests.integration.test_notifications_mail import CASA, WAIT, Inbox, later, mailroom, plan_reports, queue

pytestmark = pytest.mark.live


def duplicates(inbox: Inbox) -> int:
    arrived = inbox.message_ids()
    return sum(arrived.values()) - len(arrived)


def finish(processes, timeout: float = 240) -> list[str]:
    outputs = [process.communicate(timeout=timeout)[0] for process in processes]
    return outputs


@pytest.mark.parametrize("senders", [2, 4])
def test_several_senders_at_once_send_every_message_exactly_once(tmp_path, senders):
    with mailroom(tmp_path) as room, Inbox(room.port, delay=0.002) as inbox:
        written = queue(room, 240)
        processes = [room.start("outbox", "send", env={"MAIL_BATCH_SIZE": "10"}) for _ in range(senders)]
        outputs = finish(processes)
        assert [p.returncode for p in processes] == [0] * senders, outputs
        assert not any("Traceback" in output or "locked" in output for output in outputs), outputs
        assert set(inbox.message_ids()) == set(written)
        assert duplicates(inbox) == 0
        assert {m.status for m in room.outbox()} == {"sent"}
        # Several senders really did share the work.
        sent_counts = [int(output.split("Outbox: ")[1].split(" sent")[0]) for output in outputs]
        assert sum(sent_counts) == len(written)


def test_a_slow_smtp_server_slower_than_the_lease_causes_no_duplicate(tmp_path):
    # Each message takes 1.5 s; a claim's lease is 1 s. Without the heartbeat the second
    # sender would take the first one's batch over and send it again.
    with mailroom(tmp_path) as room, Inbox(room.port, delay=1.5) as inbox:
        written = queue(room, 6)
        env = {"MAIL_BATCH_SIZE": "3", "MAIL_LEASE_SECONDS": "1"}
        processes = [room.start("outbox", "send", env=env) for _ in range(2)]
        deadline = time.monotonic() + WAIT
        # Keep a second sender trying for as long as the first ones are busy.
        while any(p.poll() is None for p in processes):
            assert time.monotonic() < deadline
            room.flask("outbox", "send", env=env)
        outputs = finish(processes)
        assert [p.returncode for p in processes] == [0, 0], outputs
        room.flask("outbox", "send", env=env)
        assert set(inbox.message_ids()) == set(written)
        assert duplicates(inbox) == 0
        assert {m.status for m in room.outbox()} == {"sent"}


def test_two_schedulers_and_a_pass_by_hand_send_reminders_and_queued_mail_once(tmp_path):
    due = datetime.now(CASA).date() + timedelta(days=7)
    with mailroom(tmp_path) as room, Inbox(room.port, delay=0.002) as inbox:
        plan_reports(room, due, [f"Rapport {n}" for n in range(5)])
        written = queue(room, 150)
        env = {"OUTBOX_INTERVAL_SECONDS": "1", "MAIL_BATCH_SIZE": "10"}
        schedulers = [room.start("scheduler", "run", env=env) for _ in range(2)]
        try:
            by_hand = room.flask("reminders", "run", env={"MAIL_BATCH_SIZE": "10"})
            assert "Traceback" not in by_hand.stdout + by_hand.stderr
            expected = 150 + 5 * 3  # the queue; partner, colleague and owner for each report due in 7 days
            inbox.wait_for(expected)
            # Everything written has been sent and nothing more is due.
            deadline = time.monotonic() + WAIT
            while {m.status for m in room.outbox()} != {"sent"}:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        finally:
            for process in schedulers:
                process.send_signal(signal.SIGTERM)
            outputs = finish(schedulers, timeout=60)
        assert [p.returncode for p in schedulers] == [0, 0], outputs
        assert not any("Traceback" in output for output in outputs), outputs
        assert set(written) <= set(inbox.message_ids())
        assert len(inbox) == expected and duplicates(inbox) == 0


def test_senders_killed_at_random_moments_cost_at_most_one_duplicate_per_kill(tmp_path):
    chance = random.Random()
    with mailroom(tmp_path) as room, Inbox(room.port, delay=0.01) as inbox:
        written = queue(room, 200)
        env = {"MAIL_BATCH_SIZE": "10", "MAIL_LEASE_SECONDS": "2"}
        kills = 0
        running = [room.start("outbox", "send", env=env) for _ in range(2)]
        for _round in range(4):
            target = len(inbox) + chance.randint(5, 25)
            deadline = time.monotonic() + WAIT
            while len(inbox) < min(target, len(written)) and any(p.poll() is None for p in running):
                assert time.monotonic() < deadline
                time.sleep(0.005)
            victim = running.pop(0)
            if victim.poll() is None:
                victim.send_signal(signal.SIGKILL)
                kills += 1
            victim.communicate(timeout=WAIT)
            running.append(room.start("outbox", "send", env=env))
        outputs = finish(running)
        assert all("Traceback" not in output for output in outputs), outputs
        # What the killed senders held comes back once their leases run out.
        for _attempt in range(3):
            room.flask("outbox", "send", "--at", later(5), env=env)
            if {m.status for m in room.outbox()} == {"sent"}:
                break
        assert {m.status for m in room.outbox()} == {"sent"}
        assert set(inbox.message_ids()) == set(written)
        # The guarantee is per kill: one message may be the one in flight at two successive kills
        # (sent, killed; taken over, sent again, killed again), so it can arrive three times.
        assert duplicates(inbox) <= kills


def test_a_writer_holding_the_sqlite_lock_past_the_busy_timeout_does_not_crash_the_sender(tmp_path):
    """The web app (here: this process) holds SQLite's write lock for longer than the
    10-second busy timeout while a sender is mid-batch: the sender waits and retries,
    and every message it handed to the SMTP server is marked sent once."""
    if backend() != "sqlite":
        pytest.skip("SQLite's single writer lock")
    import sqlite3

    with mailroom(tmp_path) as room, Inbox(room.port, delay=0.01) as inbox:
        written = queue(room, 40)
        sender = room.start("outbox", "send", env={"MAIL_BATCH_SIZE": "10"})
        path = room.url.removeprefix("sqlite:///")
        blocker = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            inbox.wait_for(1)
            blocker.execute("BEGIN IMMEDIATE")  # the sender's next write must wait for this one
            arrived_while_locked = len(inbox)
            deadline = time.monotonic() + 12
            while time.monotonic() < deadline:  # hold the lock past busy_timeout (10 s), on purpose
                assert sender.poll() is None, sender.communicate()[0]
                time.sleep(0.1)
            blocker.execute("COMMIT")
        finally:
            blocker.close()
        output = sender.communicate(timeout=WAIT)[0]
        assert sender.returncode == 0, output
        assert "Traceback" not in output
        assert arrived_while_locked < len(written)
        assert set(inbox.message_ids()) == set(written) and duplicates(inbox) == 0
        assert {m.status for m in room.outbox()} == {"sent"}


def test_the_claim_takes_at_most_one_batch_and_its_plan_runs_the_pick_once(tmp_path):
    if backend() != "postgresql":
        pytest.skip("the plan of the CTE claim is PostgreSQL's")
    with mailroom(tmp_path) as room:
        queue(room, 300)
        with room.context():
            now = db.session.scalar(text("SELECT clock_timestamp()"))
            statement = claim_statement("plan-test", now, now + timedelta(minutes=5), 25, "postgresql")
            compiled = statement.compile(dialect=db.engine.dialect)
            # Straight to the driver (as the columns store them: naive UTC), so EXPLAIN sees the real statement.
            params = {
                key: value.astimezone(timezone.utc).replace(tzinfo=None) if isinstance(value, datetime) else value
                for key, value in compiled.params.items()
            }
            plan = (
                db.session.connection()
                .exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), params)
                .scalar()
            )
            plan = plan if isinstance(plan, list) else json.loads(plan)
            limits = list(_nodes(plan[0]["Plan"], "Limit"))
            assert limits and all(node["Actual Loops"] == 1 for node in limits), plan
            assert any(node["Node Type"] == "CTE Scan" for node in _nodes(plan[0]["Plan"]))
            claimed = db.session.scalar(
                select(db.func.count()).select_from(OutboxMessage).where(OutboxMessage.claimed_by == "plan-test")
            )
            assert claimed == 25
            db.session.rollback()


def _nodes(node, kind: str | None = None):
    if kind is None or node["Node Type"] == kind:
        yield node
    for child in node.get("Plans", []):
        yield from _nodes(child, kind)


def test_a_scheduler_stopped_while_sending_a_long_outbox_stops_after_its_batch(tmp_path):
    """SIGTERM during a long send: the sender finishes the batch under way and the process exits, the rest
    waiting for the next run, rather than sending everything first (past a service manager's patience,
    which then kills it mid-batch: the one case that can send a message twice)."""
    with mailroom(tmp_path) as room, Inbox(room.port, delay=0.05) as inbox:
        written = queue(room, 200)  # 10 s of sending at this server's pace
        env = {"OUTBOX_INTERVAL_SECONDS": "1", "MAIL_BATCH_SIZE": "5"}
        scheduler = room.start("scheduler", "run", env=env)
        try:
            inbox.wait_for(10)
        finally:
            sent_before = len(inbox)
            scheduler.send_signal(signal.SIGTERM)
            output = finish([scheduler], timeout=WAIT)[0]
        assert scheduler.returncode == 0, output
        # The batch under way (5), and at most one more begun while the signal travelled; not the 190 left.
        # Counted in messages, not seconds: a busy machine stretches the seconds, not the batches.
        assert len(inbox) <= sent_before + 2 * 5, (sent_before, len(inbox), output)
        assert "Traceback" not in output, output
        # What the stop gave back is not counted as mail to retry (the server refused nothing).
        assert not re.search(r"[1-9]\d* to retry", output), output
        statuses = [m.status for m in room.outbox()]
        assert "pending" in statuses and "sending" not in statuses  # the rest left for the next run, none held
        assert set(inbox.message_ids()) <= set(written) and duplicates(inbox) == 0


class HeldInbox(Inbox):
    """An SMTP server that holds each message's DATA until the test lets it through: a relay as slow as the
    test wants, whose every step the test sees (`in_flight`: a message is being sent)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.in_flight = threading.Event()
        self.let_through = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.in_flight.set()
        while not self.let_through.is_set():
            await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


def test_a_send_by_hand_stopped_by_sigterm_gives_its_batch_back_between_two_messages(tmp_path):
    """SIGTERM while `flask outbox send` waits on a slow relay: it had exited 143 at once, leaving its batch
    claimed (another machine's sender waits out the lease) and the message in flight to be sent again. It
    finishes that message, gives back the rest and exits 143 (README, "Exit codes")."""
    with mailroom(tmp_path) as room, HeldInbox(room.port) as inbox:
        written = queue(room, 41)
        sender = room.start("outbox", "send", env={"MAIL_BATCH_SIZE": "20"})
        try:
            assert inbox.in_flight.wait(WAIT), "no message reached the server"
            sender.send_signal(signal.SIGTERM)  # while the sender waits for the relay's answer
        finally:
            inbox.let_through.set()
            released = time.monotonic()
            output = sender.communicate(timeout=WAIT)[0]
        # The message in flight, the rest given back, then out: not the 40 more a relay this slow takes minutes for.
        assert time.monotonic() - released < 20, output
        assert sender.returncode == 128 + signal.SIGTERM, output
        assert "Traceback" not in output and "given back" in output, output
        rows = room.outbox()
        assert [m.status for m in rows].count("sent") == len(inbox) == 1
        assert {m.status for m in rows} == {"sent", "pending"}  # none held by the stopped sender's claim
        assert all(m.claimed_by is None and m.attempts == 0 for m in rows if m.status == "pending")
        # The rest goes with the next run, at once, and nothing twice.
        result = room.flask("outbox", "send")
        assert "40 sent" in result.stdout, result.stdout
        assert set(inbox.message_ids()) == set(written) and duplicates(inbox) == 0


class CuttingInbox(Inbox):
    """An SMTP server that, before it answers "250 OK" to the first message, ends every session of the
    sender's database: the message is taken, and the sender's connection is gone when it records that."""

    def __init__(self, *args, database_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.database_url = database_url
        self.cut = False

    async def handle_DATA(self, server, session, envelope):
        if not self.cut:
            self.cut = True
            await asyncio.to_thread(_end_sessions_of, self.database_url)
        return await super().handle_DATA(server, session, envelope)


def _end_sessions_of(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        ended = connection.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (parsed.database,)
        ).fetchone()[0]
    assert ended, "no session of the sender to end"


@pytest.mark.skipif(backend() != "postgresql", reason="an SQLite file has no connection to cut")
def test_the_database_lost_after_the_server_took_a_message_sends_it_once(tmp_path):
    """The sender's connection cut between the SMTP server's "250 OK" and the commit marking the message
    sent: the run failed ("the database is out of reach"), the next gave the message back and sent it a
    second time (a probe saw two duplicates in an outage). The mark waits the outage out: each message once."""
    with mailroom(tmp_path) as room:
        with CuttingInbox(room.port, database_url=room.url) as inbox:
            written = queue(room, 5)
            result = room.flask("outbox", "send", check=False)
            output = result.stdout + result.stderr
        assert inbox.cut and result.returncode == 0, output
        assert "5 sent" in result.stdout, output
        assert set(inbox.message_ids()) == set(written) and duplicates(inbox) == 0
        assert {m.status for m in room.outbox()} == {"sent"}


def test_mail_and_spreadsheets_have_threads_of_their_own(app):
    """Thousands of e-mails to a slow server no longer hold up an export or the day's moves."""
    from app.scheduler import build_scheduler

    executors = {job.id: job.executor for job in build_scheduler(app).get_jobs()}
    assert executors["outbox"] == "mail" and executors["exports"] == "exports"
    assert executors["date-transitions"] == executors["reminders"] == "default"
