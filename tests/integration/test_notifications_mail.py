"""Mail for real: the CLI in its own process, a real SMTP server (aiosmtpd), a real database.

What arrives at the SMTP server is the evidence: on which simulated day, to whom, in which
language, and how many times. The outbox promises that nothing is lost and that a crash
between the server's acceptance and the commit costs at most one duplicate.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import email.utils
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy import update as sa_update

from app.agreements.models import Agreement
from app.auth.models import Invitation, User, normalize_email
from app.core import clock
from app.core.audit import AuditEvent
from app.deliverables import services as deliverable_services
from app.extensions import db
from app.notifications import services
from app.notifications.models import CATEGORIES, Notification, OutboxMessage, ReminderSent
from app.organizations.models import Organization
from tests import factories
from tests.conftest import SignedInClient, make_test_app
from tests.databases import backend, migrated_database

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]
CASA = clock.zone_named("Africa/Casablanca")  # the app's own zone data (tzdata), not the system's
BASE_URL = "http://sharaka.test"
SENDER = "sharaka@sharaka.test"
WAIT = 60  # seconds: generous, only ever reached when something is broken


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """A real SMTP server keeping every message it accepts (with its envelope recipients)."""

    def __init__(
        self,
        port: int | None = None,
        *,
        delay: float = 0.0,
        refuse: tuple[str, ...] = (),
        defer: tuple[str, ...] = (),
        refuse_sender: str = "",
        smtputf8: bool = True,
    ):
        self.port = port or free_port()
        self.smtputf8 = smtputf8  # False: a relay that takes ASCII addresses only (many do)
        self.delay = delay
        self.refuse = {address.lower() for address in refuse}
        self.defer = {address.lower() for address in defer}  # "try later" (451), every time
        self.refuse_sender = refuse_sender  # an answer to MAIL FROM ("530 5.7.0 Authentication required")
        self._received: list[tuple[list[str], email.message.EmailMessage]] = []
        self._lock = threading.Lock()
        self.controller: Controller | None = None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 no such user"
        if address.lower() in self.defer:
            return "451 4.3.0 try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self._received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def start(self) -> "Inbox":
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=self.smtputf8)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> "Inbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def received(self) -> list[tuple[list[str], email.message.EmailMessage]]:
        with self._lock:
            return list(self._received)

    def __len__(self) -> int:
        with self._lock:
            return len(self._received)

    def message_ids(self) -> Counter:
        return Counter(message["Message-ID"] for _rcpt, message in self.received)

    def wait_for(self, count: int, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while len(self) < count:
            assert time.monotonic() < deadline, f"only {len(self)} of {count} messages arrived"
            time.sleep(0.02)


@dataclass
class Mailroom:
    app: object
    url: str
    tmp_path: Path
    port: int
    ids: dict  # names -> user ids and emails, read once the world is built

    def flask(
        self, *args: str, env: dict | None = None, port: int | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        """Run `flask <args>` in its own process, against this database and SMTP port."""
        result = subprocess.run(
            [sys.executable, "-m", "flask", *args],
            cwd=ROOT,
            env=self.env(port, env),
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def start(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", *args],
            cwd=ROOT,
            env=self.env(None, env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def env(self, port: int | None, extra: dict | None) -> dict:
        return {
            **os.environ,
            "DATABASE_URL": self.url,
            "SHARAKA_CONFIG": "development",
            "FLASK_APP": "app",
            "FLASK_SKIP_DOTENV": "1",
            "SHARAKA_INSTANCE_DIR": str(self.tmp_path),
            "BASE_URL": BASE_URL,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(port or self.port),
            "MAIL_DEFAULT_SENDER": SENDER,
            "MAIL_USE_TLS": "",
            "MAIL_USE_SSL": "",
            "MAIL_USERNAME": "",
            "MAIL_PASSWORD": "",
            "MAIL_TIMEOUT": "30",
            **(extra or {}),
        }

    @contextmanager
    def context(self):
        with self.app.app_context():
            try:
                yield
            finally:
                db.session.remove()

    def outbox(self) -> list[OutboxMessage]:
        with self.context():
            rows = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
            db.session.expunge_all()
            return rows

    def count(self, model, *where) -> int:
        with self.context():
            return db.session.scalar(select(func.count()).select_from(model).where(*where))


@contextmanager
def mailroom(tmp_path, port: int | None = None, *, digest_mail: bool = False, **overrides):
    """A migrated fresh database with the world in it, and an app whose mail goes to `port`."""
    port = port or free_port()
    with migrated_database(tmp_path, "mail") as url:
        app = make_test_app(
            url,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=port,
            MAIL_DEFAULT_SENDER=SENDER,
            BASE_URL=BASE_URL,
            UPLOAD_DIR=str(tmp_path / "uploads"),
            **overrides,
        )
        with app.app_context():
            world = factories.build_world()
            colleague = factories.user("partner", world.partner_a, email="colleague@partner-a.example")
            world.users["colleague"] = colleague
            if not digest_mail:
                # The weekly digest would mail the manager on any day of the week: keep it in the app only.
                services.set_mail_choices(world.users["manager"], set(CATEGORIES) - {"weekly_digest"})
            db.session.commit()
            ids = {name: (user.id, user.email) for name, user in world.users.items()}
            ids["agreement_a"] = (world.agreement_a.id, world.agreement_a.reference)
            ids["partner_a"] = (world.partner_a.id, None)
            db.session.remove()
        room = Mailroom(app=app, url=url, tmp_path=tmp_path, port=port, ids=ids)
        try:
            yield room
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def plan_reports(room: Mailroom, due_on: date, titles: list[str]) -> list[int]:
    """Partner A owes one report per title on `due_on`; returns the occurrence ids."""
    with room.context():
        agreement = db.session.get(Agreement, room.ids["agreement_a"][0])
        officer = db.session.get(User, room.ids["officer"][0])
        occurrence_ids = []
        for title in titles:
            deliverable = deliverable_services.plan_deliverable(
                agreement,
                deliverable_services.PlanData(
                    title_fr=title,
                    title_ar=None,
                    title_en=None,
                    description=None,
                    responsible_organization_id=room.ids["partner_a"][0],
                    recurrence="once",
                    first_due_on=due_on,
                ),
                by=officer,
            )
            occurrence_ids.append(deliverable.occurrences[0].id)
        db.session.commit()
        return occurrence_ids


def queue(
    room: Mailroom, how_many: int, *, to: tuple[str, ...] = ("partner", "colleague", "officer", "legal")
) -> list[str]:
    """Write `how_many` messages straight into the outbox; returns their Message-IDs."""
    with room.context():
        people = [db.session.get(User, room.ids[name][0]) for name in to]
        message_ids = []
        for number in range(how_many):
            message = services.queue_mail(
                people[number % len(people)],
                services.Notice(
                    kind="agreement_ending",
                    category="agreement_ending",
                    params={
                        "reference": f"MTNRA-Q-{number:04d}",
                        "title": {"fr": "Accord", "en": "Agreement"},
                        "days": 30,
                        "expires_on": "2027-01-31",
                    },
                    link="/agreements/",
                ),
            )
            message_ids.append(message.message_id)
        db.session.commit()
        return message_ids


def set_language(room: Mailroom, **languages: str) -> None:
    with room.context():
        for name, language in languages.items():
            db.session.get(User, room.ids[name][0]).language = language
        db.session.commit()


def add_ghost(room: Mailroom) -> None:
    """A partner user at partner A whose mailbox the SMTP server may refuse ("ghost")."""
    with room.context():
        ghost = factories.user(
            "partner", db.session.get(Organization, room.ids["partner_a"][0]), email="ghost@partner-a.example"
        )
        db.session.commit()
        room.ids["ghost"] = (ghost.id, ghost.email)


def moment(day: date, hour: int = 9) -> str:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=CASA).isoformat()


def due_lately() -> date:
    """Two days ago: a pass by hand runs as if it were a moment up to now, never later (app.cli.AsIf), so a
    due date already past lets a test pass through the week before it and the day after it."""
    return datetime.now(CASA).date() - timedelta(days=2)


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def later(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


# --- 1. time travel through the CLI --------------------------------------------------------------


def test_reminders_arrive_on_the_right_days_to_the_right_people_in_their_language(tmp_path):
    due = due_lately()
    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        [occurrence_id] = plan_reports(room, due, ["Rapport trimestriel"])
        set_language(room, partner="ar", colleague="en", officer="fr")
        languages = {
            room.ids[name][1]: lang for name, lang in (("partner", "ar"), ("colleague", "en"), ("officer", "fr"))
        }
        reference = room.ids["agreement_a"][1]

        room.flask("reminders", "run", "--at", moment(due - timedelta(days=8)))
        assert len(inbox) == 0

        room.flask("reminders", "run", "--at", moment(due - timedelta(days=7)))
        arrived = inbox.received
        assert sorted(rcpt for rcpts, _m in arrived for rcpt in rcpts) == sorted(languages)
        outbox = {m.message_id: m for m in room.outbox()}
        for rcpts, message in arrived:
            [address] = rcpts
            assert message["To"] == address
            assert message["Content-Language"] == languages[address]
            assert f'lang="{languages[address]}"' in html_of(message)
            assert ('dir="rtl"' in html_of(message)) == (languages[address] == "ar")
            assert f'href="{BASE_URL}/deliverables/{occurrence_id}"' in html_of(message)
            assert message["Message-ID"] in outbox and outbox[message["Message-ID"]].to_address == address
            assert outbox[message["Message-ID"]].status == "sent"
            # The pass left the bodies to the sender, which kept what it sent.
            assert outbox[message["Message-ID"]].body_html.split() == html_of(message).split()
            assert reference in message["Subject"]
            assert message["Auto-Submitted"] == "auto-generated" and SENDER in message["From"]
            # #16: the configured domain, a real offset, an unsubscribe link, a one-line subject.
            assert message["Message-ID"].endswith("@sharaka.test>")  # MAIL_DOMAIN, from BASE_URL by default
            sent_at = email.utils.parsedate_to_datetime(message["Date"])
            assert sent_at.utcoffset() == datetime.now(CASA).utcoffset()
            assert not message["Date"].endswith("-0000")
            # Optional mail (a deliverable coming due): its own signed link, one click (RFC 8058).
            assert message["List-Unsubscribe"].startswith(f"<{BASE_URL}/mail/unsubscribe/")
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            # As it travelled: on one line, not as RFC 2047 encoded words a mail client would not decode.
            raw_unsubscribe = dict(message.raw_items())["List-Unsubscribe"]
            assert raw_unsubscribe == message["List-Unsubscribe"] and len(raw_unsubscribe) > 78
            assert "\n" not in message["Subject"] and message["Subject"] == message["Subject"].strip()
            # Word for word as stored, in Arabic too: no two words glued where the header was folded.
            assert message["Subject"] == " ".join(outbox[message["Message-ID"]].subject.split())
        english = next(m for rcpts, m in arrived if rcpts == [room.ids["colleague"][1]])
        assert english["Subject"] == f"Due in 7 days: Rapport trimestriel ({reference})"
        assert room.ids["partner_b"][1] not in {r for rcpts, _m in arrived for r in rcpts}

        # The same moment again (here in this process, which mails the same server): nothing new.
        again = room.app.test_cli_runner().invoke(args=["reminders", "run", "--at", moment(due - timedelta(days=7))])
        assert again.exit_code == 0 and "Reminders: 0 new" in again.output, again.output
        assert len(inbox) == 3

        room.flask("reminders", "run", "--at", moment(due + timedelta(days=1)))
        assert len(inbox) == 6
        overdue = inbox.received[3:]
        assert {r for rcpts, _m in overdue for r in rcpts} == set(languages)
        english = next(m for rcpts, m in overdue if rcpts == [room.ids["colleague"][1]])
        assert english["Subject"].startswith("Overdue by 1 day")
        # The quarter is named: a recurring report's occurrences had the same subject.
        written_due = f"{due:%B} {due.day}, {due.year}"
        assert english["Subject"].endswith(f": Rapport trimestriel due {written_due} ({reference})")
        assert len(inbox.message_ids()) == 6  # six different messages, none twice

        recorded = room.count(ReminderSent)
        written = room.count(OutboxMessage)
        # A preview may look ahead: the day the agreement (running since the world was built, today) has run
        # past the escalation threshold too.
        preview = room.flask("reminders", "preview", "--at", moment(datetime.now(CASA).date() + timedelta(days=16)))
        # Three overdue reminders, the manager's escalation, and that week's digest (kept in the app for them).
        assert "5 reminders would be sent." in preview.stdout
        assert "deliverable_escalated" in preview.stdout and room.ids["manager"][1] in preview.stdout
        assert f"{due}:escalated" in preview.stdout
        assert (room.count(ReminderSent), room.count(OutboxMessage), len(inbox)) == (recorded, written, 6)


def test_mail_says_its_language_in_a_content_language_header():
    from app.core.mail import build_message

    message = build_message(
        sender=SENDER,
        to="a@example.org",
        subject="تذكير",
        text="نص",
        html="<p>نص</p>",
        message_id="<1@sharaka.test>",
        language="ar",
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Content-Language"] == "ar"


@pytest.mark.parametrize(
    "subject",
    [
        "متأخر منذ 33 يومًا: \u2068كشف شهري\u2069 المستحق في 15 فبراير 2027 (\u2068MTNRA-2026-012\u2069)",
        "En retard de 3 jours : Rapport d’avancement trimestriel attendu au plus tard le 15 février 2027 (MTNRA-1)",
        "x" * 120 + " é " + " ".join(["mot"] * 40),
    ],
)
def test_a_long_subject_reads_back_word_for_word(subject):
    """Folded over several lines as RFC 2047 encoded words, each space stays inside a word: the space
    written as the fold between two encoded words is dropped by every mail client."""
    from app.core.mail import build_message

    message = build_message(
        sender=SENDER, to="a@example.org", subject=subject, text="t", html="<p>t</p>", message_id="<1@x>", language="ar"
    )
    raw = message.as_bytes()
    assert max(len(line) for line in raw.splitlines()) <= 78
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == subject


# --- 2. the SMTP server is down ------------------------------------------------------------------


def test_a_pass_with_the_smtp_server_down_keeps_everything_and_sends_it_later(tmp_path):
    closed = free_port()  # nothing listens here yet
    due = due_lately()
    with mailroom(tmp_path, closed) as room:
        plan_reports(room, due, [f"Rapport {n}" for n in range(10)])
        result = room.flask("reminders", "run", "--at", moment(due - timedelta(days=7)), check=False)
        assert result.returncode == 3, result.stdout + result.stderr  # SMTP unreachable: the mail waits
        # Partner, colleague and owner for each report, and the manager's digest (which stays in the app).
        assert "Reminders: 31 new" in result.stdout
        assert "unreachable" in result.stdout
        waiting = room.outbox()
        assert len(waiting) == 30
        assert all(m.status == "pending" and m.attempts == 0 and m.last_error for m in waiting)
        # Given back with a pause before the next try (MAIL_RETRY_SECONDS, 60 by default).
        assert all(m.next_attempt_at >= m.created_at + timedelta(seconds=59) for m in waiting)

        with Inbox(closed) as inbox:
            runner = room.app.test_cli_runner()  # the same command, run in this process (it saves a start-up)
            result = runner.invoke(args=["outbox", "send", "--at", later(120)])
            assert result.exit_code == 0 and "30 sent" in result.output, result.output
            ids = inbox.message_ids()
            assert set(ids) == {m.message_id for m in waiting}
            assert set(ids.values()) == {1}
            sent = room.outbox()
            assert all(m.status == "sent" and m.attempts == 1 and m.last_error is None for m in sent)
            # Nothing left: a further run sends nothing.
            result = runner.invoke(args=["outbox", "send", "--at", later(240)])
            assert "0 sent" in result.output and len(inbox) == 30


# --- 3. a sender killed in the middle --------------------------------------------------------------


def test_a_sender_killed_mid_batch_loses_nothing_and_duplicates_at_most_one(tmp_path):
    with mailroom(tmp_path) as room, Inbox(room.port, delay=0.02) as inbox:
        written = queue(room, 300)
        sender = room.start("outbox", "send", env={"MAIL_LEASE_SECONDS": "2", "MAIL_BATCH_SIZE": "50"})
        try:
            deadline = time.monotonic() + WAIT
            while len(inbox) < 60:
                assert sender.poll() is None, sender.communicate()[0]  # it must still be sending
                assert time.monotonic() < deadline, f"only {len(inbox)} messages arrived"
                time.sleep(0.01)
        finally:
            sender.kill()
            sender.communicate(timeout=WAIT)
        crashes = 1
        assert len(inbox) < 300, "the sender finished before it could be killed"
        # The killed sender's batch is still claimed: only its expired lease lets another sender take it.
        assert "sending" in {m.status for m in room.outbox()}

        # Another sender (this process) ten seconds later: the dead sender's leases have run out.
        inbox.delay = 0
        runner = room.app.test_cli_runner()
        for _attempt in range(3):
            result = runner.invoke(args=["outbox", "send", "--at", later(10)])
            assert result.exit_code == 0, result.output
            if not {m.status for m in room.outbox()} & {"pending", "sending"}:
                break
        rows = room.outbox()
        assert {m.status for m in rows} == {"sent"}
        arrived = inbox.message_ids()
        assert set(arrived) == set(written)  # nothing lost
        duplicates = sum(arrived.values()) - len(arrived)
        assert duplicates <= crashes
        with room.context():
            audited = Counter(
                db.session.scalars(
                    select(AuditEvent.object_id).where(
                        AuditEvent.action == "mail_sent", AuditEvent.object_type == "outbox_messages"
                    )
                )
            )
        assert set(audited) == {m.id for m in rows}
        assert set(audited.values()) == {1}


def test_mail_claimed_under_this_process_number_is_given_back_as_a_send_begins(tmp_path):
    """A container's scheduler is process 1 before and after its restart: the killed sender's claims bear the
    number of the one starting, and waited out their lease while newer mail went first (an outside probe:
    five minutes). A send begins with nothing of its own process claimed, so those are given back at once."""
    import os
    import socket

    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        written = queue(room, 3)
        with room.context():
            db.session.execute(
                sa_update(OutboxMessage).values(
                    status="sending",
                    claimed_by=f"{socket.gethostname()[:40]}:{os.getpid()}:0dd0dd00",
                    lease_until=datetime.now(timezone.utc) + timedelta(hours=1),
                )
            )
            db.session.commit()
        result = room.app.test_cli_runner().invoke(args=["outbox", "send"])
        assert result.exit_code == 0 and "3 sent" in result.output, result.output
        assert set(inbox.message_ids()) == set(written)


# --- 4. two processes at once (PostgreSQL) ----------------------------------------------------------


def test_two_passes_and_two_senders_at_once_send_each_message_once(tmp_path):
    if backend() != "postgresql":
        pytest.skip("concurrent writers are a PostgreSQL matter (SQLite serialises them)")
    due = due_lately()
    with mailroom(tmp_path, digest_mail=True) as room, Inbox(room.port) as inbox:
        plan_reports(room, due, [f"Rapport {n}" for n in range(10)])
        at = moment(due - timedelta(days=7))
        passes = [room.start("reminders", "run", "--at", at) for _ in range(2)]
        outputs = [p.communicate(timeout=180)[0] for p in passes]
        assert [p.returncode for p in passes] == [0, 0], outputs
        expected = 10 * 3 + 1  # partner, colleague and owner for each report; the manager's digest
        assert room.count(ReminderSent) == expected
        assert room.count(Notification) == expected
        assert room.count(OutboxMessage) == expected
        with room.context():
            keys = db.session.execute(
                select(
                    ReminderSent.rule,
                    ReminderSent.object_type,
                    ReminderSent.object_id,
                    ReminderSent.recipient_id,
                    ReminderSent.occurrence_key,
                )
            ).all()
        assert len(set(keys)) == len(keys) == expected
        inbox.wait_for(expected)
        by_id = inbox.message_ids()
        by_subject = Counter((tuple(rcpts), m["Subject"]) for rcpts, m in inbox.received)
        assert len(inbox) == expected and set(by_id.values()) == {1} and set(by_subject.values()) == {1}
        assert set(by_id) == {m.message_id for m in room.outbox()}

        written = queue(room, 200)
        senders = [room.start("outbox", "send", env={"MAIL_BATCH_SIZE": "20"}) for _ in range(2)]
        outputs = [p.communicate(timeout=180)[0] for p in senders]
        assert [p.returncode for p in senders] == [0, 0], outputs
        arrived = inbox.message_ids()
        assert set(written) <= set(arrived)
        assert all(arrived[message_id] == 1 for message_id in written)
        assert len(inbox) == expected + 200
        assert {m.status for m in room.outbox()} == {"sent"}


# --- 5. a refused address; mail paused ---------------------------------------------------------------


def test_a_relay_refusing_our_sender_holds_the_mail_instead_of_failing_it(tmp_path):
    """530 at MAIL FROM (the relay's credentials rotated): the same for every message, so a server problem,
    not a bad message. Every message of the morning had failed for good, to be sent again one by one."""
    with mailroom(tmp_path) as room:
        runner = room.app.test_cli_runner()
        written = queue(room, 4)
        with Inbox(room.port, refuse_sender="530 5.7.0 Authentication required"):
            result = runner.invoke(args=["outbox", "send"])
            assert result.exit_code == 3 and "sender refused: 530" in result.output, result.output  # as unreachable
            rows = room.outbox()
            assert {m.status for m in rows} == {"pending"} and {m.attempts for m in rows} == {0}
            assert all("530" in m.last_error for m in rows)
        with Inbox(room.port) as inbox:  # fixed: they go at the next run, once each
            with room.context():
                db.session.execute(sa_update(OutboxMessage).values(next_attempt_at=datetime.now(timezone.utc)))
                db.session.commit()
            result = runner.invoke(args=["outbox", "send"])
            assert result.exit_code == 0 and "4 sent" in result.output, result.output
            assert set(inbox.message_ids()) == set(written)


def test_mail_to_an_internationalised_domain_goes_to_its_ascii_form(tmp_path):
    """An account's address keeps its domain's Unicode spelling (auth.models.normalize_email); the SMTP
    server is given the ASCII (IDNA) one, which every server takes. To a relay without SMTPUTF8 (this one),
    smtplib refused to send the Unicode one, and the message was tried again and again until it failed."""
    with mailroom(tmp_path) as room:
        with room.context():
            partner_a = db.session.get(Organization, room.ids["partner_a"][0])
            ana = factories.user("partner", partner_a, email=normalize_email("Ana@xn--BCHER-kva.example"))
            db.session.commit()
            assert ana.email == "ana@bücher.example"
            room.ids["ana"] = (ana.id, ana.email)
        with Inbox(room.port, smtputf8=False) as inbox:
            (written,) = queue(room, 1, to=("ana",))
            result = room.app.test_cli_runner().invoke(args=["outbox", "send"])
            assert result.exit_code == 0 and "1 sent" in result.output, result.output
            ((recipients, message),) = inbox.received
            assert recipients == ["ana@xn--bcher-kva.example"] and message["To"] == "ana@xn--bcher-kva.example"
            assert message["Message-ID"] == written


def test_a_refused_address_fails_for_good_and_a_pause_holds_everything(tmp_path):
    with mailroom(tmp_path) as room:
        add_ghost(room)
        runner = room.app.test_cli_runner()
        with Inbox(room.port, refuse=("ghost@partner-a.example",)) as inbox:
            written = queue(room, 8, to=("partner", "ghost", "officer", "legal"))
            result = runner.invoke(args=["outbox", "send"])
            assert result.exit_code == 0, result.output
            assert "6 sent" in result.output and "2 failed for good" in result.output
            rows = room.outbox()
            failed = [m for m in rows if m.status == "failed"]
            assert {m.to_address for m in failed} == {"ghost@partner-a.example"} and len(failed) == 2
            assert all("550" in m.last_error for m in failed)
            assert {m.status for m in rows if m not in failed} == {"sent"}
            assert set(inbox.message_ids()) == set(written) - {m.message_id for m in failed}
            with room.context():
                audited = set(
                    db.session.scalars(
                        select(AuditEvent.object_id).where(
                            AuditEvent.action == "mail_failed", AuditEvent.object_type == "outbox_messages"
                        )
                    )
                )
                sent_audits = db.session.scalar(
                    select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "mail_sent")
                )
            assert audited == {m.id for m in failed}
            assert sent_audits == 6

            # Paused by an administrator: nothing leaves, the sender says why.
            with room.context():
                admin = db.session.get(User, room.ids["admin"][0])
                services.set_mail_paused(True, by=admin)
                db.session.commit()
            held = queue(room, 3)
            result = runner.invoke(args=["outbox", "send"])
            assert result.exit_code == 0 and "held" in result.output and "paused" in result.output
            assert len(inbox) == 6
            assert all(m.status == "pending" and m.attempts == 0 for m in room.outbox() if m.message_id in held)
            result = runner.invoke(args=["outbox", "status"])
            assert "pending 3" in result.output and "mail paused" in result.output

            with room.context():
                admin = db.session.get(User, room.ids["admin"][0])
                services.set_mail_paused(False, by=admin)
                db.session.commit()
            result = runner.invoke(args=["outbox", "send"])
            assert "3 sent" in result.output
            assert set(held) <= set(inbox.message_ids()) and len(inbox) == 9

        # No SMTP server configured: held as well, and nothing is claimed.
        queue(room, 1)
        room.app.config["MAIL_SERVER"] = ""
        result = runner.invoke(args=["outbox", "send"])
        assert "held" in result.output and "MAIL_SERVER" in result.output
        assert [m.attempts for m in room.outbox() if m.status == "pending"] == [0]


def test_a_run_at_a_later_moment_tries_a_deferred_message_once_and_waits_its_backoff_from_that_moment(tmp_path):
    """A mailbox answered "451 try later". `flask outbox send --at <later>` tried it again and again within a
    second (its next try was counted from the real clock, long before --at, so it was due again at once) until
    it failed for good. One run tries a message at most once; its next try is its backoff after the run's moment."""
    with mailroom(tmp_path) as room:
        add_ghost(room)
        runner = room.app.test_cli_runner()
        with Inbox(room.port, defer=("ghost@partner-a.example",)) as inbox:
            queue(room, 2, to=("partner", "ghost"))
            result = runner.invoke(args=["outbox", "send"])
            assert result.exit_code == 0 and "1 sent, 1 to retry, 0 failed" in result.output, result.output
            at = datetime.now(CASA).replace(microsecond=0, tzinfo=None) + timedelta(days=4)
            result = runner.invoke(args=["outbox", "send", "--at", at.isoformat()])
            assert result.exit_code == 0 and "0 sent, 1 to retry, 0 failed" in result.output, result.output
            (deferred,) = [m for m in room.outbox() if m.to_address == "ghost@partner-a.example"]
            assert deferred.status == "pending" and deferred.attempts == 2 and "451" in deferred.last_error
            # The second backoff (2 minutes), counted from the run's moment.
            run_at = at.replace(tzinfo=CASA).astimezone(timezone.utc)
            assert deferred.next_attempt_at.replace(tzinfo=timezone.utc) == run_at + timedelta(minutes=2)
            # Not due yet at that moment again; due once its backoff is over.
            again = runner.invoke(args=["outbox", "send", "--at", (at + timedelta(minutes=1)).isoformat()])
            assert "0 sent, 0 to retry, 0 failed" in again.output, again.output
            again = runner.invoke(args=["outbox", "send", "--at", (at + timedelta(minutes=2)).isoformat()])
            assert "0 sent, 1 to retry, 0 failed" in again.output, again.output
            assert [m.attempts for m in room.outbox() if m.to_address == "ghost@partner-a.example"] == [3]
            assert len(inbox) == 1


def test_every_failed_message_sent_again_at_once_is_delivered(tmp_path):
    """A mailbox that did not exist yet: its mail failed for good. Once it exists, the admin's "Send all
    failed again" puts it back in the queue and the next pass delivers it, under its own Message-ID."""
    with mailroom(tmp_path) as room:
        add_ghost(room)
        with room.context():
            admin = db.session.get(User, room.ids["admin"][0])
        runner = room.app.test_cli_runner()
        with Inbox(room.port, refuse=("ghost@partner-a.example",)):
            queue(room, 4, to=("partner", "ghost"))
            assert "2 failed for good" in runner.invoke(args=["outbox", "send"]).output
        failed = {m.message_id for m in room.outbox() if m.status == "failed"}
        assert len(failed) == 2

        response = SignedInClient(room.app, admin).post(
            "/admin/outbox/retry-failed", csrf_from="/admin/outbox", headers={"Accept": "application/json"}
        )
        assert response.get_json() == {"status": "ok", "count": 2, "no_longer_true": 0}
        with Inbox(room.port) as inbox:
            result = runner.invoke(args=["outbox", "send"])
            assert "2 sent" in result.output, result.output
            assert set(inbox.message_ids()) == failed and len(inbox) == 2
        assert {m.status for m in room.outbox()} == {"sent"}


def test_a_reminder_held_while_its_deliverable_is_handed_in_is_withdrawn_not_sent(tmp_path):
    """Mail paused (or the server down) for a while: the reminders wait. A report handed in meanwhile
    is no longer owed; its reminders are withdrawn when mail resumes, the other report's go."""
    from werkzeug.datastructures import FileStorage

    from app.deliverables.models import Occurrence

    due = due_lately()
    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        handed_in, still_owed = plan_reports(room, due, ["Rapport remis", "Rapport attendu"])
        with room.context():
            services.set_mail_paused(True, by=db.session.get(User, room.ids["admin"][0]))
            db.session.commit()
        room.flask("reminders", "run", "--at", moment(due - timedelta(days=7)))
        waiting = [m for m in room.outbox() if m.kind == "deliverable_due"]
        assert waiting and {m.status for m in waiting} == {"pending"} and len(inbox) == 0
        assert {m.object_id for m in waiting} == {handed_in, still_owed}

        with room.context():
            occurrence = db.session.get(Occurrence, handed_in)
            deliverable_services.submit(
                occurrence,
                [FileStorage(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="rapport.pdf", content_type="application/pdf")],
                note=None,
                by=db.session.get(User, room.ids["partner"][0]),
                expected_version=occurrence.version,
            )
            services.set_mail_paused(False, by=db.session.get(User, room.ids["admin"][0]))
            db.session.commit()
        result = room.app.test_cli_runner().invoke(args=["outbox", "send"])
        assert result.exit_code == 0 and "withdrawn" in result.output, result.output

        by_object = {}
        for message in room.outbox():
            if message.kind == "deliverable_due":
                by_object.setdefault(message.object_id, set()).add(message.status)
        assert by_object == {handed_in: {"withdrawn"}, still_owed: {"sent"}}
        withdrawn = [m for m in room.outbox() if m.status == "withdrawn"]
        assert all("submitted" in m.last_error for m in withdrawn)
        sent_ids = {m.message_id for m in room.outbox() if m.status == "sent"}
        assert set(inbox.message_ids()) == sent_ids and not {m.message_id for m in withdrawn} & sent_ids
        with room.context():
            audited = set(db.session.scalars(select(AuditEvent.object_id).where(AuditEvent.action == "mail_withdrawn")))
        assert audited == {m.id for m in withdrawn}
        assert {m.attempts for m in withdrawn} == {0}  # never reached the SMTP server

        # The outbox page says why in the reader's words, and links to the deliverable.
        with room.context():
            admin = db.session.get(User, room.ids["admin"][0])
        page = SignedInClient(room.app, admin).get(f"/admin/outbox/{withdrawn[0].id}").get_data(as_text=True)
        assert "The deliverable is submitted now." in page and f'href="/deliverables/{handed_in}"' in page
        # A failed reminder about it is not sent again either: the admin is told why.
        with room.context():
            db.session.get(OutboxMessage, withdrawn[0].id).status = "failed"
            db.session.commit()
        admin_client = SignedInClient(room.app, admin)
        page = admin_client.get(f"/admin/outbox/{withdrawn[0].id}").get_data(as_text=True)
        assert "Send again" not in page and "no longer true" in page
        refused = admin_client.post(
            f"/admin/outbox/{withdrawn[0].id}/retry",
            csrf_from="/admin/outbox",
            headers={"Accept": "application/json"},
        )
        assert refused.status_code in (400, 409, 422) and "no longer true" in refused.get_data(as_text=True)
        assert {m.status for m in room.outbox() if m.id == withdrawn[0].id} == {"failed"}
        # Nor with every failed message at once: the admin is told it was left as it was, and why where.
        told = admin_client.post("/admin/outbox/retry-failed", csrf_from="/admin/outbox", follow_redirects=True)
        assert (
            "No failed message is sent again. 1 is no longer true and stays as it was (its page says why)."
            in told.get_data(as_text=True)
        )
        assert {m.status for m in room.outbox() if m.id == withdrawn[0].id} == {"failed"}


def test_mail_held_for_an_account_closed_meanwhile_is_withdrawn_not_sent(tmp_path):
    """Mail paused; a partner's account is deactivated before it resumes: what was queued for them is
    withdrawn with the reason, as notify() would not queue it now; a colleague's still goes."""
    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        with room.context():
            admin = db.session.get(User, room.ids["admin"][0])
            services.set_mail_paused(True, by=admin)
            notice = services.Notice(
                kind="agreement_ending",
                category="agreement_ending",
                params={
                    "reference": "MTNRA-C-0001",
                    "title": {"fr": "Accord", "en": "Agreement"},
                    "days": 30,
                    "expires_on": "2027-01-31",
                },
                link="/agreements/",
            )
            for role in ("partner", "legal"):
                services.queue_mail(db.session.get(User, room.ids[role][0]), notice)
            db.session.get(User, room.ids["partner"][0]).is_active_account = False
            services.set_mail_paused(False, by=admin)
            db.session.commit()
        result = room.app.test_cli_runner().invoke(args=["outbox", "send"])
        assert result.exit_code == 0 and "withdrawn" in result.output, result.output
        inbox.wait_for(1)
        status = {m.recipient_id: (m.status, m.last_error) for m in room.outbox()}
        assert status[room.ids["partner"][0]] == ("withdrawn", "The recipient's account is no longer active.")
        assert status[room.ids["legal"][0]][0] == "sent"
        assert [rcpts for rcpts, _message in inbox.received] == [[room.ids["legal"][1]]]


def test_mail_held_for_a_dead_link_is_withdrawn_not_sent(tmp_path):
    """Mail paused: an invitation revoked, another sent again, a reset link used meanwhile. The revoked one
    had still gone out when mail resumed, naming the organisation, with a link that answered 410; the
    first mail of the one sent again carried a dead link. Only the live invitation's newest mail goes."""
    from app.auth import invitations, resets
    from app.auth.models import Invitation, PasswordReset

    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        with room.context():
            admin = db.session.get(User, room.ids["admin"][0])
            partner_org = db.session.get(User, room.ids["partner"][0]).organization
            services.set_mail_paused(True, by=admin)
            revoked, resent = (
                invitations.invite(email=address, role="partner", organization=partner_org, language="en", by=admin)
                for address in ("revoked@partner.example", "resent@partner.example")
            )
            invitations.revoke(revoked, by=admin)
            invitations.resend(resent, by=admin)
            resets.request_reset(room.ids["legal"][1], "127.0.0.1")
            db.session.flush()
            reset = db.session.scalar(select(PasswordReset).where(PasswordReset.user_id == room.ids["legal"][0]))
            reset.used_at = datetime.now(timezone.utc)
            services.set_mail_paused(False, by=admin)
            db.session.commit()
            resent_id, revoked_id, reset_id = resent.id, revoked.id, reset.id
        result = room.app.test_cli_runner().invoke(args=["outbox", "send"])
        assert result.exit_code == 0, result.output
        inbox.wait_for(1)
        outcome = sorted((m.kind, m.object_id, m.status, m.last_error) for m in room.outbox())
        assert outcome == sorted(
            [
                ("invitation", revoked_id, "withdrawn", "The invitation is withdrawn now."),
                ("invitation", resent_id, "withdrawn", "A newer invitation replaced it: its link no longer works."),
                ("invitation", resent_id, "sent", None),
                ("password_reset", reset_id, "withdrawn", "The link to choose a password was used or has expired."),
            ]
        ), outcome
        assert [rcpts for rcpts, _message in inbox.received] == [["resent@partner.example"]]
        # The invitee did not ask for it, and has no account whose choices an unsubscribe link could open.
        invitation_mail = inbox.received[0][1]
        assert "List-Unsubscribe" not in invitation_mail
        text = invitation_mail.get_body(preferencelist=("plain",)).get_content()
        assert "this address was invited" in text and "If you did not ask for it" not in text
        with room.context():
            assert db.session.get(Invitation, resent_id).status == "pending"


def test_a_password_reset_carries_no_unsubscribe_header(tmp_path):
    """Asked for by the person and never a choice: mail clients showed an "unsubscribe" that answered 409."""
    from app.auth import resets

    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        with room.context():
            resets.request_reset(room.ids["legal"][1], "127.0.0.1")
            db.session.commit()
        assert room.app.test_cli_runner().invoke(args=["outbox", "send"]).exit_code == 0
        inbox.wait_for(1)
        assert "List-Unsubscribe" not in inbox.received[0][1]


# --- one-click unsubscribe (RFC 8058) ----------------------------------------------------------


def test_one_click_unsubscribe_switches_off_that_category_for_that_person_only(tmp_path):
    from app.notifications.models import MailOptOut

    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        with room.context():
            partner = db.session.get(User, room.ids["partner"][0])
            legal = db.session.get(User, room.ids["legal"][0])
            params = {
                "reference": "MTNRA-U-0001",
                "title": {"fr": "Accord", "en": "Agreement"},
                "days": 30,
                "expires_on": "2027-01-31",
            }
            services.queue_mail(
                partner,
                services.Notice(
                    kind="agreement_ending", category="agreement_ending", params=params, link="/agreements/"
                ),
            )
            services.queue_mail(
                legal,
                services.Notice(
                    kind="approval_requested", category="approval_requested", params=params, link="/agreements/"
                ),
            )
            db.session.commit()
        runner = room.app.test_cli_runner()
        result = runner.invoke(args=["outbox", "send"])
        assert result.exit_code == 0, result.output
        inbox.wait_for(2)
        by_address = {rcpts[0]: message for rcpts, message in inbox.received}
        optional, mandatory = by_address[room.ids["partner"][1]], by_address[room.ids["legal"][1]]
        assert optional["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = optional["List-Unsubscribe"].strip("<>")
        assert link.startswith(f"{BASE_URL}/mail/unsubscribe/")
        path = link[len(BASE_URL) :]
        # A mandatory category: a link that explains, and no one-click header.
        assert mandatory["List-Unsubscribe-Post"] is None
        mandatory_path = mandatory["List-Unsubscribe"].strip("<>")[len(BASE_URL) :]

        concerned = [room.ids["partner"][0], room.ids["legal"][0]]
        http = room.app.test_client()  # no session, no cookie, no CSRF token: as a mail client posts
        asked = http.get(path)
        assert asked.status_code == 200 and "Stop e-mails about" in asked.get_data(as_text=True)
        assert room.count(MailOptOut, MailOptOut.user_id.in_(concerned)) == 0  # opening the link changes nothing
        assert http.head(path).status_code == 200  # nor does a link checker's HEAD
        assert room.count(MailOptOut, MailOptOut.user_id.in_(concerned)) == 0
        done = http.post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
        assert done.status_code == 200
        with room.context():
            assert [
                (row.user_id, row.category)
                for row in db.session.scalars(select(MailOptOut).where(MailOptOut.user_id.in_(concerned)))
            ] == [(room.ids["partner"][0], "agreement_ending")]
            assert not services.wants_mail(db.session.get(User, room.ids["partner"][0]), "agreement_ending")
            assert services.wants_mail(db.session.get(User, room.ids["partner"][0]), "deliverable_due")
        assert http.post(path, data="List-Unsubscribe=One-Click").status_code == 200  # twice: no harm
        assert room.count(MailOptOut, MailOptOut.user_id.in_(concerned)) == 1

        explained = http.get(mandatory_path)
        assert explained.status_code == 200 and "cannot be switched off" in explained.get_data(as_text=True)
        assert http.post(mandatory_path, data="List-Unsubscribe=One-Click").status_code == 409
        assert room.count(MailOptOut, MailOptOut.user_id.in_(concerned)) == 1
        # A token changed on the way, or nonsense: a clear page, never a 500.
        token = path.rsplit("/", 1)[1]
        assert http.post(path[: -len(token)] + token[:-2] + "xx").status_code == 404
        assert http.get("/mail/unsubscribe/" + "a" * 400).status_code == 404


# --- 7. what the reader's mail client reads --------------------------------------------------------


def test_a_name_typed_with_an_encoded_word_reaches_the_subject_as_written():
    """A header given as text is parsed and its RFC 2047 encoded words decoded: a partner who named herself
    "Camille =?utf-8?b?4oCuZmRwLmV4ZQ==?=" put U+202E (which reverses what follows) into other people's
    subjects, which the app strips when typed plainly; and a line break, as "Boss\\r\\nBcc: …", became words."""
    from app.core.mail import build_message

    for typed in ("Camille =?utf-8?b?4oCuZmRwLmV4ZQ==?=", "=?utf-8?q?Boss=0D=0ABcc:_spy@evil.example?="):
        subject = f"{typed} (Mistral AI) vous a mentionné"
        message = build_message(
            sender=SENDER,
            to="a@example.org",
            subject=subject,
            text="t",
            html="<p>t</p>",
            message_id="<1@x>",
            language="fr",
        )
        parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
        read = str(parsed["Subject"])
        assert "\u202e" not in read and "\n" not in read and "Bcc" not in parsed
        assert read.replace("\u2060", "") == subject  # every character as typed, the joiner aside


def test_a_line_of_text_starting_with_from_reaches_the_reader_unchanged(tmp_path):
    """smtplib's send_message wrote ">From now on you sign in…" in the plain text (an mbox file's escape)."""
    from app.core.mail import SMTPConnection, build_message

    with Inbox() as inbox:
        connection = SMTPConnection({"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": inbox.port})
        text = "Hello,\n\nFrom now on you sign in to Sharaka with ana@example.org.\n"
        connection.send(
            build_message(
                sender=SENDER,
                to="ana@example.org",
                subject="Address changed",
                text=text,
                html="<p>From now on…</p>",
                message_id="<2@x>",
                language="en",
            )
        )
        connection.close()
        ((recipients, message),) = inbox.received
    assert recipients == ["ana@example.org"]
    plain = message.get_body(("plain",)).get_content()
    assert "\nFrom now on you sign in" in plain and ">From" not in plain


def test_served_at_an_ip_address_mail_comes_from_an_address_literal():
    """ "sharaka@127.0.0.1" is no address (make run's default BASE_URL): the domain is written [127.0.0.1]."""
    from config import mail_domain_for

    assert mail_domain_for("http://127.0.0.1:5000") == "[127.0.0.1]"
    assert mail_domain_for("http://[::1]:5000/") == "[IPv6:::1]"
    assert mail_domain_for("https://sharaka.gov.ma") == "sharaka.gov.ma"
    parsed = email.utils.parseaddr("Sharaka <sharaka@[127.0.0.1]>")
    assert parsed == ("Sharaka", "sharaka@[127.0.0.1]")


def test_a_message_held_by_an_outage_is_dated_when_it_was_written():
    from app.core.mail import build_message

    written = datetime(2026, 12, 6, 18, 9, tzinfo=timezone.utc)
    message = build_message(
        sender=SENDER,
        to="a@example.org",
        subject="s",
        text="t",
        html="<p>t</p>",
        message_id="<3@x>",
        language="en",
        timezone="Africa/Casablanca",
        written_at=written,
    )
    assert email.utils.parsedate_to_datetime(message["Date"]) == written


def test_an_invitation_the_server_refused_says_so_on_the_team_page_until_sent_again(tmp_path):
    """The server answered 550 to the invitation's mail: the partner organisation's admin (who sent it) and the
    ministry's admin see on it that it was not delivered, with the server's answer, not "until <date>" as if it
    waited on the invitee; resending it sends it again, and the list says nothing until that one fails too."""
    from app.auth import invitations

    with mailroom(tmp_path) as room, Inbox(room.port, refuse=("typo@partner-a.example",)) as inbox:
        with room.context():
            boss = db.session.get(User, room.ids["partner"][0])
            boss.is_org_admin = True
            refused, delivered = (
                invitations.invite(
                    email=address, role="partner", organization=boss.organization, language="en", by=boss
                )
                for address in ("typo@partner-a.example", "right@partner-a.example")
            )
            db.session.commit()
            refused_id, delivered_id = refused.id, delivered.id
            boss, admin = (db.session.get(User, room.ids[name][0]) for name in ("partner", "admin"))
            boss.email, admin.email  # noqa: B018  (loaded: they sign in after the session ends)
        result = room.app.test_cli_runner().invoke(args=["outbox", "send"])
        assert "1 failed for good" in result.output, result.output
        inbox.wait_for(1)

        def rows(user) -> dict[int, str]:
            page = SignedInClient(room.app, user).get("/team").get_data(as_text=True)
            return dict(re.findall(r'<tr data-invitation="(\d+)">(.*?)</tr>', page, re.S))

        for reader in (boss, admin):
            listed = rows(reader)
            assert "data-undelivered" in listed[str(refused_id)] and "Not delivered" in listed[str(refused_id)]
            assert "550 5.1.1 no such user" in listed[str(refused_id)] and "b&#39;" not in listed[str(refused_id)]
            assert "Until" not in listed[str(refused_id)]
            assert f"/invitations/{refused_id}/revoke" in listed[str(refused_id)]  # the ways to correct it
            assert f"/invitations/{refused_id}/resend" in listed[str(refused_id)]
            assert "data-undelivered" not in listed[str(delivered_id)] and "Until" in listed[str(delivered_id)]

        with room.context():
            invitations.resend(db.session.get(Invitation, refused_id), by=db.session.get(User, boss.id))
            db.session.commit()
        assert "data-undelivered" not in rows(boss)[str(refused_id)]  # sent again: waiting to leave
        room.app.test_cli_runner().invoke(args=["outbox", "send"])
        assert "data-undelivered" in rows(boss)[str(refused_id)]  # refused again


def test_reports_settled_before_sharaka_are_not_reminded_and_those_chased_still_are(tmp_path):
    """Two agreements signed 300 days before Sharaka, each activated in force from its signature: three quarterly
    reports of each fell due before today. The officer chased one's as owed and recorded the other's as settled
    before Sharaka: the reminder pass mails the first's lateness, and nothing of the second."""
    from dateutil.relativedelta import relativedelta

    from app.deliverables.before_sharaka import follow_choice
    from app.workflow import engine

    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        references = {}
        with room.context():
            officer = db.session.get(User, room.ids["officer"][0])
            partner_a = db.session.get(Organization, room.ids["partner_a"][0])
            signed_on = clock.today() - timedelta(days=300)
            for choice in ("chase", "settled"):
                agreement = factories.agreement(
                    by=officer,
                    partners=[partner_a],
                    state="signed",
                    signed_on=signed_on,
                    expires_on=signed_on + relativedelta(years=3),
                )
                engine.settle_state(agreement)
                version, values = agreement.version, {"effective_on": signed_on}
                engine.take(agreement, "activate", by=officer, expected_version=version, values=values)
                follow_choice(agreement, "activate", choice, by=officer, today=clock.today())
                references[choice] = agreement.reference
            db.session.commit()

        room.flask("reminders", "run", "--at", moment(datetime.now(CASA).date(), hour=0))
        # Besides the mail of each move into force, sent as the pass begins.
        subjects = [message["Subject"] for _rcpts, message in inbox.received]
        subjects = [subject for subject in subjects if "is now at the stage" not in subject]
        assert any(subject.startswith("Overdue by") and references["chase"] in subject for subject in subjects)
        assert not [subject for subject in subjects if references["settled"] in subject], subjects
