"""Hostile input to every form route: a clear 4xx or a redirect, never a 500, never damaged data.

Every POST is sent by a user allowed to use the route. For each one:
- the answer is a 4xx or a redirect (302/303), never a 5xx;
- when refused, nothing was written: every row of the domain tables and of
  audit_events is what it was before (so their counts are too);
- when accepted, what was stored is what was sent (NUL bytes stripped, outer
  whitespace trimmed), and the pages that show it render with the text escaped.

Tests that expose a bug in the app are marked xfail(strict=True) with the bug in
the reason; remove the mark once the bug is fixed.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Callable
from urllib.parse import urlsplit

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from app.agreements.models import Agreement, AgreementParty, SigningEvent
from app.auth.models import User
from app.core.audit import AuditEvent
from app.extensions import db
from app.organizations.models import Organization
from tests import factories
from tests.conftest import SignedInClient
from tests.databases import backend

ON_POSTGRESQL = backend() == "postgresql"
TRACKED = (Agreement, AgreementParty, Organization, SigningEvent, User, AuditEvent)
DROP = object()  # in a form's changes: leave the field out altogether

HOSTILE_TEXT = {
    "nul-bytes": "Accord\x00 de\x00 test\x00",
    "control-chars": "bell\x07 backspace\x08 escape\x1b delete\x7f tab\t newline\n end",
    "rtl-override": "\u202eevil.exe\u202c \u202dLRO\u202c \u2067isolate\u2069 \u200fRLM\u200e",
    "arabic": "اتفاقية شراكة في مجال التحول الرقمي",
    "mixed-scripts": "Partenariat شراكة 2026 – Ελληνικά 中文 🤝 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "sql": "'; DROP TABLE agreements; -- \" OR 1=1 /*",
    "html": "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "template-syntax": "{{ 7*7 }} {% raw %} ${7*7} %(name)s %s",
    "path-traversal": "../../../../etc/passwd ..\\..\\windows\\win.ini",
    "surrounding-whitespace": "  \t  trimmed value \r\n ",
}
SCRIPT = "<script>alert(1)</script>"
HUGE_TEXT = "ab ش" * 25_000  # 100,000 characters
BLANKS = {
    "empty": "",
    "whitespace": " \t\r\n ",
    "nul-only": "\x00\x00",
    "nul-and-space": " \x00 ",
    "invisible-only": "\u200b\u202e\u200f\ufeff\u00a0",
}
# Values that stay wrong once NUL bytes are stripped (a stripped "\x00" would be a legitimate "").
BAD_IDS = ["9" * 40, "-1", "0", "abc", "1.5", "\x00x"]
BAD_KEYS = ["9" * 40, "MOU", "admin ", "'; DROP TABLE users; --", "\x00x"]
BAD_DATES = [
    "2026-02-30",
    "0000-00-00",
    "99999-01-01",
    "1e10",
    "2026-13-01",
    "31/12/2026",
    "2026-02-01T10:00",
    "-001-01-01",
    "2026-02-01\x01",
    "9" * 40,
]


# Texts kept on one line: names and titles, shown inside the app's own words (pages, e-mail subjects).
SINGLE_LINE = {"title_fr", "title_ar", "title_en", "name_fr", "name_ar", "name_en", "acronym", "place", "full_name"}


def cleaned(value: str, name: str = "") -> str | None:
    """What the app must store for a text field: NUL bytes and other controls removed, outer whitespace
    and invisible format characters (zero-width, direction marks and overrides) trimmed; what is inside
    kept as sent, without direction embeddings, overrides and isolates (marks stay), and in a name or
    title each run of line breaks (tabs too) is one space."""
    import re
    import unicodedata

    def trim(text: str) -> str:
        while text and (text[0].isspace() or unicodedata.category(text[0]) == "Cf"):
            text = text[1:]
        while text and (text[-1].isspace() or unicodedata.category(text[-1]) == "Cf"):
            text = text[:-1]
        return text

    # Control characters no text needs (a bell, an escape, DEL, C1 codes) are dropped; tabs and lines kept.
    # Direction embeddings, overrides and isolates are dropped from every text, on one line or many.
    text = re.sub("[\x01-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]", "", value.replace("\x00", ""))
    text = trim(re.sub("[\u202a-\u202e\u2066-\u2069]", "", text))
    if name in SINGLE_LINE:
        text = trim(re.sub("[\t\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+", " ", text))
    return text or None


# --- the form routes ---------------------------------------------------------


def _agreement_form(world):
    return {
        "type": "mou",
        "title_fr": "Protocole de test",
        "title_ar": "مذكرة تفاهم تجريبية",
        "partners": [str(world.partner_a.id)],
        "owner_id": str(world.users["officer"].id),
        "signed_on": "2026-02-01",
        "effective_on": "2026-02-15",
        "expires_on": "2029-02-15",
    }


def _agreement_edit_form(world):
    return {
        **_agreement_form(world),
        "title_fr": "Accord avec A",
        "title_ar": "",
        "signed_on": "2025-07-01",
        "effective_on": "",
        "expires_on": "",
        "signing_event_id": str(world.event.id),
        "version": str(stored(Agreement, world.agreement_a.id)["version"]),
    }


def _user_form(world):
    return {
        "email": "new.person@example.org",
        "full_name": "New Person",
        "role": "officer",
        "organization_id": str(world.ministry.id),
        "language": "fr",
        "is_active": "y",
        "password": "a long enough password",
    }


def _user_edit_form(world):
    officer = world.users["other_officer"]  # not the officer that other routes sign in as
    return {
        "email": officer.email,
        "full_name": officer.full_name,
        "role": "officer",
        "organization_id": str(world.ministry.id),
        "language": "en",
        "is_active": "y",
        "password": "",
    }


@dataclass(frozen=True)
class FormRoute:
    """A form route: who may use it, a form it accepts, where the data lands and which page shows it."""

    key: str
    role: str
    path: Callable
    valid: Callable
    model: type
    text_fields: dict[str, int]  # field (= column) -> the longest value the form allows
    required: tuple[str, ...]  # at least one of these must be filled in
    page: Callable[[int], str]
    list_page: str
    target: Callable = lambda world: None  # the edited row's id; None on a create route
    selects: dict[str, list[str]] = field(default_factory=dict)  # field -> values never valid

    def __str__(self):
        return self.key


AGREEMENT_TEXT = {
    "title_fr": 500,
    "title_ar": 500,
    "title_en": 500,
    "summary_fr": 20000,
    "summary_ar": 20000,
    "summary_en": 20000,
    "notes": 20000,
}
AGREEMENT_SELECTS = {
    "type": BAD_KEYS,
    **{
        name: BAD_IDS
        for name in ("partners", "co_signatories", "witnesses", "owner_id", "parent_id", "signing_event_id")
    },
}
ORGANIZATION_TEXT = {"name_fr": 300, "name_ar": 300, "name_en": 300, "acronym": 40, "contact": 300, "notes": 20000}
EVENT_TEXT = {"name_fr": 300, "name_ar": 300, "name_en": 300, "place": 300, "description": 20000}
USER_SELECTS = {"role": BAD_KEYS, "organization_id": BAD_IDS, "language": BAD_KEYS}

ROUTES = {
    route.key: route
    for route in [
        FormRoute(
            "agreement-new",
            "officer",
            lambda w: "/agreements/new",
            _agreement_form,
            Agreement,
            AGREEMENT_TEXT,
            ("title_fr", "title_ar", "title_en"),
            lambda i: f"/agreements/{i}",
            "/agreements/",
            selects=AGREEMENT_SELECTS,
        ),
        FormRoute(
            "agreement-edit",
            "officer",
            lambda w: f"/agreements/{w.agreement_a.id}/edit",
            _agreement_edit_form,
            Agreement,
            AGREEMENT_TEXT,
            ("title_fr", "title_ar", "title_en"),
            lambda i: f"/agreements/{i}",
            "/agreements/",
            target=lambda w: w.agreement_a.id,
            selects=AGREEMENT_SELECTS,
        ),
        FormRoute(
            "organization-new",
            "officer",
            lambda w: "/organizations/new",
            lambda w: {"slug": "hostile-org", "name_fr": "Organisation hostile", "kind": "company", "country": "MA"},
            Organization,
            ORGANIZATION_TEXT,
            ("name_fr", "name_ar", "name_en"),
            lambda i: f"/organizations/{i}",
            "/organizations/",
            selects={"kind": BAD_KEYS},
        ),
        FormRoute(
            "organization-edit",
            "officer",
            lambda w: f"/organizations/{w.partner_a.id}/edit",
            lambda w: {
                "slug": "partner-a",
                "name_fr": "Partenaire A",
                "name_en": "Partner A",
                "kind": "company",
                "country": "MA",
            },
            Organization,
            ORGANIZATION_TEXT,
            ("name_fr", "name_ar", "name_en"),
            lambda i: f"/organizations/{i}",
            "/organizations/",
            target=lambda w: w.partner_a.id,
            selects={"kind": BAD_KEYS},
        ),
        FormRoute(
            "event-new",
            "officer",
            lambda w: "/events/new",
            lambda w: {"name_fr": "Cérémonie hostile", "held_on": "2026-03-01", "ends_on": "", "place": "Rabat"},
            SigningEvent,
            EVENT_TEXT,
            ("name_fr", "name_ar", "name_en"),
            lambda i: f"/events/{i}",
            "/events/",
        ),
        FormRoute(
            "event-edit",
            "officer",
            lambda w: f"/events/{w.event.id}/edit",
            lambda w: {"name_fr": "Cérémonie", "held_on": "2025-07-01", "ends_on": "", "place": "Rabat"},
            SigningEvent,
            EVENT_TEXT,
            ("name_fr", "name_ar", "name_en"),
            lambda i: f"/events/{i}",
            "/events/",
            target=lambda w: w.event.id,
        ),
        FormRoute(
            "user-new",
            "admin",
            lambda w: "/admin/users/new",
            _user_form,
            User,
            {"full_name": 200},
            ("full_name",),
            lambda i: "/admin/users",
            "/admin/users",
            selects=USER_SELECTS,
        ),
        FormRoute(
            "user-edit",
            "admin",
            lambda w: f"/admin/users/{w.users['other_officer'].id}/edit",
            _user_edit_form,
            User,
            {"full_name": 200},
            ("full_name",),
            lambda i: "/admin/users",
            "/admin/users",
            target=lambda w: w.users["other_officer"].id,
            selects=USER_SELECTS,
        ),
    ]
}
USER_ROUTES = {"user-new", "user-edit"}


def xfail_if(condition: bool, reason: str):
    return [pytest.mark.xfail(strict=True, reason=reason)] if condition else []


# --- the database before and after -------------------------------------------


def stored(model, row_id) -> dict:
    """Every column of one row, read from the database (not the session's cache)."""
    table = model.__table__
    return dict(db.session.execute(select(table).where(table.c.id == row_id)).mappings().one())


def ids_of(model) -> set[int]:
    return set(db.session.scalars(select(model.__table__.c.id)))


def db_state() -> dict:
    """Every row of the domain tables and of audit_events (the test world is small)."""
    return {
        model.__tablename__: db.session.execute(select(model.__table__).order_by(model.__table__.c.id)).all()
        for model in TRACKED
    }


def token(client: SignedInClient) -> str:
    if client.token is None:
        client.token = client.csrf("/account/password" if client.user else "/sign-in")
    return client.token


def describe(response) -> str:
    return f"{response.status_code} {response.headers.get('Location', '')}: {response.get_data(as_text=True)[:3000]}"


class Attempt:
    """One POST to a form route, with the database state before it, so its outcome can be judged."""

    def __init__(self, client, route: FormRoute, world, changes: dict | None = None, *, data=None, **post_options):
        self.client, self.route, self.world = client, route, world
        self.target = route.target(world)
        if data is None:
            data = {**route.valid(world), **(changes or {})}
            data = {key: value for key, value in data.items() if value is not DROP}
            data.setdefault("csrf_token", token(client))
        self.ids_before = ids_of(route.model)
        self.before = db_state()
        self.response = client.http.post(route.path(world), data=data, **post_options)
        self.status = self.response.status_code
        self.body = self.response.get_data(as_text=True)

    @property
    def refused(self) -> bool:
        return 400 <= self.status < 500

    def refusal_problem(self, statuses=range(400, 500)) -> str | None:
        """Why this is not a clean refusal (None when it is one)."""
        if self.status not in statuses:
            return describe(self.response)[:300]
        if db_state() != self.before:
            return f"{self.status}, but the request wrote to the database"
        return None

    def assert_refused(self, statuses=range(400, 500)):
        problem = self.refusal_problem(statuses)
        assert problem is None, problem

    def assert_nothing_written(self):
        """Refused (4xx), or a redirect that changed nothing (an empty submission); never a 5xx or a 200."""
        assert self.refused or self.status in (302, 303), describe(self.response)
        assert db_state() == self.before

    def assert_accepted(self) -> dict:
        """The request redirected and wrote one row (created or edited); return that row."""
        assert self.status in (302, 303), describe(self.response)
        if self.target is not None:
            return stored(self.route.model, self.target)
        created = ids_of(self.route.model) - self.ids_before
        assert len(created) == 1, created
        return stored(self.route.model, created.pop())

    def assert_handled(self) -> dict | None:
        """Either refused (4xx, nothing written) or accepted (redirect); the stored row when accepted."""
        assert self.status < 500, describe(self.response)
        if self.refused:
            self.assert_refused()
            return None
        return self.assert_accepted()


def assert_shows_safely(client, path: str, text: str | None = None):
    """The page renders, shows `text` escaped, and never carries a raw script tag from the data."""
    response = client.get(path)
    assert response.status_code == 200, describe(response)
    html = response.get_data(as_text=True)
    assert SCRIPT not in html
    if text is not None:
        assert str(escape(text)) in html
    return html


def route_params(keys=None):
    return [pytest.param(ROUTES[key], id=key) for key in (keys or ROUTES)]


# --- text fields ---------------------------------------------------------------


@pytest.mark.parametrize(
    "route, case",
    [pytest.param(route, case, id=f"{route.key}-{case}") for route in ROUTES.values() for case in HOSTILE_TEXT],
)
def test_hostile_text_is_stored_as_sent_and_shown_escaped(app, world, signed_in, route, case):
    value = HOSTILE_TEXT[case]
    fields = [name for name, limit in route.text_fields.items() if len(value) <= limit]
    client = signed_in(route.role)
    row = Attempt(client, route, world, {name: value for name in fields}).assert_accepted()
    assert {name: row[name] for name in fields} == {name: cleaned(value, name) for name in fields}
    assert_shows_safely(client, route.page(row["id"]), cleaned(value, fields[0]))
    assert_shows_safely(client, route.list_page)


@pytest.mark.parametrize("route", route_params(sorted(set(ROUTES) - USER_ROUTES)))
@pytest.mark.parametrize("blank", BLANKS.values(), ids=BLANKS.keys())
def test_blank_optional_text_is_stored_as_null(app, world, signed_in, route, blank):
    optional = [name for name in route.text_fields if name not in route.required]
    row = Attempt(signed_in(route.role), route, world, {name: blank for name in optional}).assert_accepted()
    assert {name: row[name] for name in optional} == {name: None for name in optional}


@pytest.mark.parametrize(
    "route, blank",
    [
        pytest.param(route, blank, id=f"{route.key}-{name}")
        for route in ROUTES.values()
        for name, blank in BLANKS.items()
    ],
)
def test_blank_required_text_is_refused(app, world, signed_in, route, blank):
    attempt = Attempt(signed_in(route.role), route, world, {name: blank for name in route.required})
    attempt.assert_refused({422})


@pytest.mark.parametrize(
    "route, name",
    [pytest.param(route, name, id=f"{route.key}-{name}") for route in ROUTES.values() for name in route.text_fields],
)
def test_oversized_text_is_refused_with_the_limit(app, world, signed_in, route, name):
    attempt = Attempt(signed_in(route.role), route, world, {name: HUGE_TEXT})
    attempt.assert_refused({422})
    assert f"longer than {route.text_fields[name]} characters" in attempt.body


# A change per route that makes the form fail, so it comes back with the values sent.
BREAKERS = {
    "agreement-new": {"partners": DROP},
    "agreement-edit": {"partners": DROP},
    "organization-new": {"slug": "Not A Slug!"},
    "organization-edit": {"slug": "Not A Slug!"},
    "event-new": {"held_on": "not a date"},
    "event-edit": {"held_on": "not a date"},
    "user-new": {"email": "not-an-email"},
    "user-edit": {"role": ""},  # the address is shown, not checked, on an account's form
}


@pytest.mark.parametrize("route", route_params())
def test_a_refused_form_shows_the_hostile_text_back_escaped(app, world, signed_in, route):
    value = HOSTILE_TEXT["html"]
    fields = {name: value for name, limit in route.text_fields.items() if len(value) <= limit}
    attempt = Attempt(signed_in(route.role), route, world, {**fields, **BREAKERS[route.key]})
    attempt.assert_refused({422})
    assert SCRIPT not in attempt.body and str(escape(value)) in attempt.body


# --- select and id fields ------------------------------------------------------


@pytest.mark.parametrize(
    "route, name",
    [pytest.param(route, name, id=f"{route.key}-{name}") for route in ROUTES.values() for name in route.selects],
)
def test_impossible_choices_are_refused(app, world, signed_in, route, name):
    client = signed_in(route.role)
    problems = {
        value: Attempt(client, route, world, {name: value}).refusal_problem({422}) for value in route.selects[name]
    }
    assert not {value: problem for value, problem in problems.items() if problem}


def test_the_ministry_cannot_be_a_partner(app, world, signed_in):
    attempt = Attempt(signed_in("officer"), ROUTES["agreement-new"], world, {"partners": [str(world.ministry.id)]})
    attempt.assert_refused({422})


# --- repeated and unknown fields ----------------------------------------------

# (route, field, the values sent under that one name, column where the value lands)
REPEATS = [
    ("agreement-new", "title_fr", ["Premier titre", "Second titre"], "title_fr"),
    ("agreement-new", "type", ["mou", "treaty"], "type"),
    ("agreement-new", "type", ["treaty", "mou"], "type"),
    ("agreement-new", "owner_id", ["OFFICER", "9" * 40], "owner_id"),
    ("agreement-new", "partners", ["PARTNER_A", "PARTNER_A"], None),
    ("agreement-new", "signed_on", ["2026-02-01", "2026-02-02"], "signed_on"),
    ("agreement-edit", "title_fr", ["Premier titre", "Second titre"], "title_fr"),
    ("organization-new", "slug", ["fresh-one", "partner-a"], "slug"),
    ("organization-new", "slug", ["partner-a", "fresh-one"], "slug"),
    ("organization-edit", "kind", ["bank", "nonsense"], "kind"),
    ("event-new", "held_on", ["2026-03-01", "2026-03-02"], "held_on"),
    ("event-edit", "name_fr", ["Premier nom", "Second nom"], "name_fr"),
    ("user-new", "email", ["first@example.org", "second@example.org"], "email"),
    ("user-new", "role", ["officer", "admin"], "role"),
    ("user-edit", "role", ["officer", "superuser"], "role"),
]


def _placeholders(world, values):
    names = {
        "OFFICER": str(world.users["officer"].id),
        "PARTNER_A": str(world.partner_a.id),
        "CURRENT": str(world.agreement_a.version),
    }
    return [names.get(value, value) for value in values]


@pytest.mark.parametrize(
    "key, name, values, column", REPEATS, ids=[f"{key}-{name}-{i}" for i, (key, name, _, _) in enumerate(REPEATS)]
)
def test_a_field_sent_several_times_is_one_of_its_values_or_refused(app, world, signed_in, key, name, values, column):
    route = ROUTES[key]
    values = _placeholders(world, values)
    row = Attempt(signed_in(route.role), route, world, {name: values}).assert_handled()
    if row is not None and column is not None:
        kept = row[column].isoformat() if hasattr(row[column], "isoformat") else str(row[column])
        assert kept in values  # never a mix of the values, never something else


EXTRAS = {
    "id": "987654",
    "state": "terminated",
    "reference": "HACKED-1",
    "is_home": "y",
    "session_nonce": "987",
    "password_hash": "HACKED",
    "search_text": "HACKED",
    "created_at": "1999-01-01T00:00:00",
    "is_admin": "y",
    "../../etc/passwd": "x",
    "<script>": SCRIPT,
    "": "nameless",
    "title_fr[]": "x",
}


@pytest.mark.parametrize("route", route_params())
def test_unknown_fields_are_ignored(app, world, signed_in, route):
    extras = {name: value for name, value in EXTRAS.items() if name not in route.valid(world)}
    row = Attempt(signed_in(route.role), route, world, extras).assert_accepted()
    assert row["id"] != 987654
    for column in ("state", "reference", "password_hash", "search_text"):
        if column in row:
            assert row[column] != EXTRAS[column]
    assert row.get("is_home", False) is False
    assert row.get("session_nonce", 0) != 987
    assert row["created_at"].year != 1999


# A role that may not use each route (the permission matrix has the full table).
OUTSIDERS = {
    "agreement-new": "partner",
    "agreement-edit": "other_officer",
    "organization-new": "legal",
    "organization-edit": "auditor",
    "event-new": "partner",
    "event-edit": "legal",
    "user-new": "officer",
    "user-edit": "auditor",
}


@pytest.mark.parametrize("route", route_params())
def test_hostile_input_from_someone_who_may_not_use_the_route_is_refused_first(app, world, signed_in, route):
    hostile = {name: HOSTILE_TEXT["html"] for name in route.text_fields}
    attempt = Attempt(signed_in(OUTSIDERS[route.key]), route, world, {**hostile, **EXTRAS})
    attempt.assert_refused({403, 404})
    assert SCRIPT not in attempt.body


def test_an_admin_changes_a_sign_in_address_and_both_addresses_are_told(app, world, signed_in):
    from app.auth.models import PasswordReset
    from app.core.models import utcnow
    from app.notifications.models import Notification, OutboxMessage

    officer = world.users["other_officer"]
    old = officer.email
    soon = utcnow() + timedelta(hours=1)
    waiting_reset = PasswordReset(user_id=officer.id, email=old, address="127.0.0.1", expires_at=soon)
    db.session.add(waiting_reset)
    db.session.commit()
    changes = {"email": "  New.Address@Example.org "}
    row = Attempt(signed_in("admin"), ROUTES["user-edit"], world, changes).assert_accepted()
    assert row["email"] == "new.address@example.org"
    told = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email_changed")).all()
    assert {mail.to_address for mail in told} == {old, "new.address@example.org"}
    assert all("new.address@example.org" in mail.body_text and old in mail.body_text for mail in told)
    assert db.session.scalar(select(Notification).where(Notification.kind == "email_changed")).user_id == officer.id
    db.session.refresh(waiting_reset)
    assert waiting_reset.expires_at <= utcnow()  # the link sent to the old address no longer works
    updated = (AuditEvent.action == "updated", AuditEvent.object_id == officer.id)
    event = db.session.scalar(select(AuditEvent).where(*updated))
    assert event.changes["before"]["email"] == old and event.changes["after"]["email"] == "new.address@example.org"
    fresh = SignedInClient(app, None)
    fresh.sign_in("new.address@example.org", factories.PASSWORD)
    assert fresh.get("/dashboard").status_code == 200
    old_way = SignedInClient(app, None)
    old_way.sign_in(old, factories.PASSWORD)
    assert old_way.get("/dashboard").status_code == 302  # the old address signs in no more


@pytest.mark.parametrize(
    "email, message",
    [
        ("legal@ministry.example", "already exists"),
        ("LEGAL@Ministry.Example", "already exists"),
        ("not an address", "Enter a valid e-mail address"),
        ("", "This field is required"),
        ("a" * 250 + "@x.org", "Enter a valid e-mail address"),
        ("<script>@x.org", "Enter a valid e-mail address"),
    ],
)
def test_a_new_sign_in_address_must_be_free_and_valid(app, world, signed_in, email, message):
    if "legal@" in email.lower():
        email = email.replace("legal@ministry.example", world.users["legal"].email).replace(
            "LEGAL@Ministry.Example", world.users["legal"].email.upper()
        )
    officer = world.users["other_officer"]
    attempt = Attempt(signed_in("admin"), ROUTES["user-edit"], world, {"email": email})
    attempt.assert_refused({422})
    assert message in attempt.body or message.lower() in attempt.body.lower()
    db.session.expire_all()
    assert db.session.get(type(officer), officer.id).email == officer.email


def test_an_internationalised_domain_is_one_mailbox_in_either_spelling(app, world, signed_in):
    """The addresses "legal@bücher.example" and "legal@xn--bcher-kva.example" are one mailbox: a second account
    for it is refused, and its holder signs in with either spelling (auth.models.normalize_email)."""
    legal = world.users["legal"]
    legal.email = "legal@bücher.example"
    db.session.commit()
    officer = world.users["other_officer"]
    attempt = Attempt(signed_in("admin"), ROUTES["user-edit"], world, {"email": "LEGAL@xn--BCHER-kva.example"})
    attempt.assert_refused({422})
    assert "already exists" in attempt.body
    db.session.expire_all()
    assert db.session.get(type(officer), officer.id).email == officer.email
    for spelling in ("legal@XN--BCHER-KVA.example", "Legal@Bücher.example"):
        client = SignedInClient(app, None)
        client.sign_in(spelling, factories.PASSWORD)
        assert client.get("/dashboard").status_code == 200, spelling


def test_the_address_of_a_directory_account_is_the_directory_s(app, world, signed_in):
    officer = world.users["other_officer"]
    officer.directory_dn = "uid=other,ou=people,dc=ministry,dc=example"
    db.session.commit()
    page = signed_in("admin").get(f"/admin/users/{officer.id}/edit").get_data(as_text=True)
    assert "change it there" in page
    attempt = Attempt(signed_in("admin"), ROUTES["user-edit"], world, {"email": "elsewhere@example.org"})
    attempt.assert_refused({422})
    assert "directory" in attempt.body


def test_an_account_whose_address_the_form_would_refuse_can_still_be_saved_and_deactivated(app, world, signed_in):
    """`flask users create ops@localhost` is taken (the service asks only for an @), but the account's form
    checked the read-only address again: every save, deactivating included, was refused."""
    from app.auth.models import User

    runner = app.test_cli_runner()
    made = runner.invoke(
        args=["users", "create", "ops@localhost", "--name", "Ops", "--role", "officer"],
        input="a long enough password\na long enough password\n",
    )
    assert made.exit_code == 0, made.output
    ops = db.session.scalar(select(User).where(User.email == "ops@localhost"))
    form = {**ROUTES["user-edit"].valid(world), "email": ops.email, "full_name": "Ops desk", "is_active": ""}
    form.update(role="officer", organization_id=str(world.ministry.id))
    saved = signed_in("admin").post(f"/admin/users/{ops.id}/edit", data=form)
    assert saved.status_code in (302, 303), saved.get_data(as_text=True)[:500]
    db.session.expire_all()
    assert ops.full_name == "Ops desk" and not ops.is_active_account


# --- dates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "route, name",
    [
        ("agreement-new", "signed_on"),
        ("agreement-new", "effective_on"),
        ("agreement-new", "expires_on"),
        ("agreement-edit", "signed_on"),
        ("event-new", "held_on"),
        ("event-new", "ends_on"),
        ("event-edit", "held_on"),
    ],
)
def test_impossible_dates_are_refused(app, world, signed_in, route, name):
    client = signed_in(ROUTES[route].role)
    problems = {
        value: Attempt(client, ROUTES[route], world, {name: value}).refusal_problem({422}) for value in BAD_DATES
    }
    assert not {value: problem for value, problem in problems.items() if problem}


@pytest.mark.parametrize("route", ["agreement-new", "agreement-edit"])
@pytest.mark.parametrize(
    "dates, message",
    [
        ({"signed_on": "0001-01-01", "effective_on": "", "expires_on": ""}, "out of range"),
        ({"signed_on": "1800-01-01", "effective_on": "", "expires_on": ""}, "out of range"),
        ({"signed_on": "9999-12-31", "effective_on": "", "expires_on": ""}, "out of range"),
        ({"signed_on": "2026-02-01", "effective_on": "2026-01-31", "expires_on": ""}, "cannot be before"),
        ({"signed_on": "2026-02-01", "effective_on": "2026-02-15", "expires_on": "2026-02-14"}, "must come after"),
        ({"signed_on": "2026-02-01", "effective_on": "2026-02-15", "expires_on": "2026-02-15"}, "must come after"),
        ({"signed_on": "2026-02-01", "effective_on": "", "expires_on": "2026-01-01"}, "must come after"),
    ],
    ids=[
        "year-1",
        "year-1800",
        "year-9999",
        "effective-before-signed",
        "ends-before-effective",
        "ends-on-effective",
        "ends-before-signed",
    ],
)
def test_agreement_dates_out_of_range_or_order_are_refused(app, world, signed_in, route, dates, message):
    attempt = Attempt(signed_in("officer"), ROUTES[route], world, dates)
    attempt.assert_refused({422})
    assert message in attempt.body


@pytest.mark.parametrize("route", ["event-new", "event-edit"])
def test_event_ending_before_it_starts_is_refused(app, world, signed_in, route):
    attempt = Attempt(signed_in("officer"), ROUTES[route], world, {"held_on": "2026-03-02", "ends_on": "2026-03-01"})
    attempt.assert_refused({422})
    assert "cannot be before the first" in attempt.body


@pytest.mark.parametrize("held_on", ["0001-01-01", "1900-02-28", "9999-12-31"])
def test_extreme_event_dates_never_break_a_page(app, world, signed_in, held_on):
    client = signed_in("officer")
    row = Attempt(client, ROUTES["event-new"], world, {"held_on": held_on}).assert_handled()
    if row is not None:
        assert row["held_on"].isoformat() == held_on
        for path in (f"/events/{row['id']}", "/events/", "/agreements/new"):
            assert_shows_safely(client, path)


# --- agreements: the version guard ---------------------------------------------


@pytest.mark.parametrize(
    "version",
    [
        pytest.param(DROP, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("abc", id="non-numeric"),
        pytest.param("9" * 40, id="huge"),
        pytest.param("-1", id="negative"),
        pytest.param("0", id="zero"),
        pytest.param("1.0", id="decimal"),
        pytest.param("\x00", id="nul"),
        pytest.param("NEXT", id="ahead"),
        pytest.param(["0", "CURRENT"], id="repeated-stale-first"),
    ],
)
def test_a_garbage_version_never_overwrites(app, world, signed_in, version):
    current = world.agreement_a.version
    if version == "NEXT":
        version = str(current + 1)
    elif isinstance(version, list):
        version = [str(current) if value == "CURRENT" else value for value in version]
    client = signed_in("officer")
    attempt = Attempt(client, ROUTES["agreement-edit"], world, {"title_fr": "Écrasé", "version": version})
    attempt.assert_refused({303, 409, 422})
    if attempt.status == 303:
        assert "has changed since you opened it" in client.get(attempt.response.headers["Location"]).get_data(
            as_text=True
        )


def test_an_old_version_never_overwrites(app, world, signed_in):
    client = signed_in("officer")
    old = str(world.agreement_a.version)
    Attempt(client, ROUTES["agreement-edit"], world, {"title_fr": "Première modification"}).assert_accepted()
    late = Attempt(client, ROUTES["agreement-edit"], world, {"title_fr": "Écrasé", "version": old})
    late.assert_refused({303, 409})
    assert stored(Agreement, world.agreement_a.id)["title_fr"] == "Première modification"


# --- organisations: slugs and countries ---------------------------------------


@pytest.mark.parametrize(
    "route, slug",
    [
        ("organization-new", "partner-a"),
        ("organization-new", "PARTNER-A"),
        ("organization-new", " partner-a "),
        ("organization-new", "partner-a\x00"),
        ("organization-new", "partner\x00-a"),
        ("organization-new", "ministry"),
        ("organization-new", "-leading-dash"),
        ("organization-new", "a" * 65),
        ("organization-new", "../etc/passwd"),
        ("organization-new", "two words"),
        ("organization-new", "شراكة"),
        ("organization-new", "under_score"),
        ("organization-edit", "partner-b"),
        ("organization-edit", "PARTNER-B"),
        ("organization-edit", "ministry"),
    ],
)
def test_slug_collisions_and_bad_slugs_are_refused(app, world, signed_in, route, slug):
    Attempt(signed_in("officer"), ROUTES[route], world, {"slug": slug}).assert_refused({422})


@pytest.mark.parametrize(
    "sent, kept", [("  fresh-slug  ", "fresh-slug"), ("a" * 64, "a" * 64), ("fresh\x00-slug", "fresh-slug")]
)
def test_a_fresh_slug_is_stored_cleaned(app, world, signed_in, sent, kept):
    row = Attempt(signed_in("officer"), ROUTES["organization-new"], world, {"slug": sent}).assert_accepted()
    assert row["slug"] == kept


@pytest.mark.parametrize("country", ["MAR", "M1", "مغ", "<s", "'-", "\x00M"])
def test_bad_country_codes_are_refused(app, world, signed_in, country):
    Attempt(signed_in("officer"), ROUTES["organization-new"], world, {"country": country}).assert_refused({422})


def test_a_lower_case_country_code_is_stored_upper_case(app, world, signed_in):
    row = Attempt(signed_in("officer"), ROUTES["organization-new"], world, {"country": "ma"}).assert_accepted()
    assert row["country"] == "MA"


# --- users: e-mail addresses, partner rules, administrators, passwords --------


def _three_hundred_characters():
    address = "a" * 288 + "@example.org"
    assert len(address) == 300
    return address


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "a@b",
        "@example.org",
        "a@@example.org",
        "a b@example.org",
        "a@example.org\x07",
        "\x00@example.org",
        "<script>@example.org",
        "a@exa mple.org",
        "'; DROP TABLE users; --@example.org",
        _three_hundred_characters(),
        "",
        "   ",
    ],
)
def test_invalid_email_addresses_are_refused(app, world, signed_in, email):
    Attempt(signed_in("admin"), ROUTES["user-new"], world, {"email": email}).assert_refused({422})


@pytest.mark.parametrize("route", ["user-new", "user-edit"])
def test_an_address_with_a_control_character_is_refused_not_cleaned(app, world, signed_in, route):
    """The forms' text cleaning dropped a NUL: "a\\x00b@example.org" made the account of ab@example.org. The
    command line, where no NUL can be typed, refuses the other control characters with the same rule."""
    attempt = Attempt(signed_in("admin"), ROUTES[route], world, {"email": "a\x00b@example.org"})
    attempt.assert_refused({422})
    assert "An e-mail address cannot contain control characters" in attempt.body
    made = app.test_cli_runner().invoke(
        args=["users", "create", "a\x1bb@example.org", "--name", "Ops", "--role", "officer"],
        input="a long enough password\na long enough password\n",
    )
    assert made.exit_code == 1 and "control characters" in made.output
    assert db.session.scalar(select(User).where(User.email.in_(["ab@example.org", "a\x1bb@example.org"]))) is None


@pytest.mark.parametrize("typed", ["cli\u202e@x.ma", "cli ok@x.ma", "cli\u200b@x.ma", "cli\u2028@x.ma"])
def test_the_command_line_refuses_the_addresses_the_forms_refuse(app, typed):
    """A right-to-left override or a space in the address: the forms refused them, `flask users create` took
    them (the override's account then read backwards in every list of people)."""
    made = app.test_cli_runner().invoke(
        args=["users", "create", typed, "--name", "Ops", "--role", "officer"],
        input="a long enough password\na long enough password\n",
    )
    assert made.exit_code == 1 and "Enter a valid e-mail address." in made.output, made.output
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email.like("cli%"))) == 0


@pytest.mark.parametrize(
    "variant", [str.upper, str.title, lambda email: f"  {email.upper()}  "], ids=["upper", "title", "padded"]
)
def test_a_case_variant_of_an_existing_email_is_refused(app, world, signed_in, variant):
    email = variant(world.users["officer"].email)
    attempt = Attempt(signed_in("admin"), ROUTES["user-new"], world, {"email": email})
    attempt.assert_refused({422})
    if email == email.strip():
        assert "already exists" in attempt.body


PARTNER_RULES = [
    ("user-new", {"role": "partner", "organization_id": ""}, "must belong to a partner organisation"),
    ("user-new", {"role": "partner", "organization_id": "MINISTRY"}, "cannot belong to the ministry"),
    ("user-new", {"role": "officer", "organization_id": "PARTNER_A"}, "Ministry staff belong to the ministry"),
    ("user-edit", {"role": "partner", "organization_id": ""}, "must belong to a partner organisation"),
    ("user-edit", {"role": "partner", "organization_id": "MINISTRY"}, "cannot belong to the ministry"),
    ("user-edit", {"organization_id": "PARTNER_A"}, "Ministry staff belong to the ministry"),
]
PARTNER_RULE_IDS = [
    "new-partner-without-organisation",
    "new-partner-in-ministry",
    "new-officer-in-partner",
    "edit-partner-without-organisation",
    "edit-partner-in-ministry",
    "edit-officer-in-partner",
]


def _organization_placeholders(world, changes):
    names = {"MINISTRY": str(world.ministry.id), "PARTNER_A": str(world.partner_a.id)}
    return {key: names.get(value, value) for key, value in changes.items()}


@pytest.mark.parametrize("key, changes, message", PARTNER_RULES, ids=PARTNER_RULE_IDS)
def test_account_organisation_rules_are_refused_with_their_reason(app, world, signed_in, key, changes, message):
    attempt = Attempt(signed_in("admin"), ROUTES[key], world, _organization_placeholders(world, changes))
    attempt.assert_refused({422})
    assert message in attempt.body


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "officer"},
        {"role": "auditor"},
        {"is_active": DROP},
        {"is_active": ""},
        {"role": "officer", "is_active": DROP},
    ],
    ids=["demote", "demote-auditor", "deactivate-unchecked", "deactivate-empty", "both"],
)
def test_an_admin_cannot_demote_or_deactivate_themselves(app, world, signed_in, changes):
    admin = world.users["admin"]
    client = signed_in("admin")
    own = {
        "email": admin.email,
        "full_name": admin.full_name,
        "role": "admin",
        "language": "en",
        "organization_id": str(world.ministry.id),
        "is_active": "y",
        "password": "",
        **changes,
    }
    route = ROUTES["user-edit"]
    own_route = replace(route, path=lambda w: f"/admin/users/{admin.id}/edit", target=lambda w: admin.id)
    attempt = Attempt(client, own_route, world, own)
    attempt.assert_refused({422})
    assert "cannot remove your own administrator role" in attempt.body
    assert client.get("/admin/users").status_code == 200  # still signed in, still an administrator


def test_a_short_password_set_by_an_admin_is_refused(app, world, signed_in):
    Attempt(signed_in("admin"), ROUTES["user-edit"], world, {"password": "short"}).assert_refused({422})


@pytest.mark.parametrize("password", [" " * 12, "   "], ids=["twelve-spaces", "three-spaces"])
def test_a_whitespace_password_in_the_admin_form_never_replaces_the_password(app, world, signed_in, password):
    attempt = Attempt(signed_in("admin"), ROUTES["user-edit"], world, {"password": password})
    assert attempt.status in (302, 303, 422), describe(attempt.response)
    assert SignedInClient(app, world.users["other_officer"]).get("/agreements/").status_code == 200  # still works


def test_a_whitespace_initial_password_is_refused(app, world, signed_in):
    Attempt(signed_in("admin"), ROUTES["user-new"], world, {"password": " " * 12}).assert_refused({422})


# --- /account/password -----------------------------------------------------------

PASSWORD_ROUTE = FormRoute(
    "account-password",
    "officer",
    lambda w: "/account/password",
    lambda w: {
        "current_password": factories.PASSWORD,
        "new_password": "a brand new secret",
        "confirm": "a brand new secret",
    },
    User,
    {},
    (),
    lambda i: "/account/password",
    "/account/password",
    target=lambda w: w.users["officer"].id,
)


@pytest.mark.parametrize(
    "changes",
    [
        {"current_password": "wrong password"},
        {"current_password": ""},
        {"current_password": HUGE_TEXT},
        {"current_password": factories.PASSWORD.replace(" ", "\x00", 1)},
        {"confirm": "something else"},
        {"new_password": "short", "confirm": "short"},
        {"new_password": " " * 12, "confirm": " " * 12},
        {"new_password": "", "confirm": ""},
        {"new_password": HUGE_TEXT, "confirm": HUGE_TEXT},
        {"new_password": DROP, "confirm": DROP},
    ],
    ids=[
        "wrong-current",
        "empty-current",
        "huge-current",
        "current-with-nul",
        "mismatch",
        "short",
        "whitespace",
        "empty-new",
        "huge-new",
        "missing-new",
    ],
)
def test_bad_password_changes_are_refused(app, world, signed_in, changes):
    Attempt(signed_in("officer"), PASSWORD_ROUTE, world, changes).assert_refused({422})
    assert SignedInClient(app, world.users["officer"]).get("/agreements/").status_code == 200


@pytest.mark.parametrize(
    "password",
    ["كلمة سر طويلة جدا", "\u202edroW ssap\u202c long", "<script>x</script>", "' OR '1'='1' --", "tab\tand\x07bell!"],
)
def test_an_unusual_new_password_is_stored_as_sent(app, world, signed_in, password):
    attempt = Attempt(signed_in("officer"), PASSWORD_ROUTE, world, {"new_password": password, "confirm": password})
    assert attempt.status == 302, describe(attempt.response)
    email = world.users["officer"].email
    assert SignedInClient(app, None).sign_in(email, password).status_code == 302
    assert SignedInClient(app, None).sign_in(email, factories.PASSWORD).status_code == 401


# --- /sign-in, /language, /sign-out ----------------------------------------------


def _signed_in_page_status(client) -> int:
    return client.get("/agreements/").status_code


# Each case builds (email, password) from the officer's real address.
HOSTILE_SIGN_INS = [
    pytest.param(lambda email: ("", ""), id="empty"),
    pytest.param(lambda email: ("   ", "   "), id="whitespace"),
    pytest.param(lambda email: (HUGE_TEXT, "x"), id="huge-email"),
    pytest.param(lambda email: (email, HUGE_TEXT), id="huge-password"),
    pytest.param(lambda email: (email.replace("@", "\x00@"), "wrong password"), id="nul-in-email"),
    pytest.param(lambda email: (email, factories.PASSWORD.replace(" ", "\x00", 1)), id="nul-in-password"),
    pytest.param(lambda email: ("' OR '1'='1", "' OR '1'='1"), id="sql"),
    pytest.param(lambda email: (email + "' --", "x"), id="sql-comment"),
    pytest.param(lambda email: (SCRIPT, SCRIPT), id="html"),
    pytest.param(lambda email: ("\u202e" + email, factories.PASSWORD), id="rtl-override"),
    pytest.param(lambda email: ("مستخدم@مثال.مغرب", "كلمة سر"), id="arabic"),
    pytest.param(lambda email: ("../../etc/passwd", "x"), id="path-traversal"),
    pytest.param(lambda email: ([email, "nobody@example.org"], ["wrong password", factories.PASSWORD]), id="repeated"),
]


@pytest.mark.parametrize("make", HOSTILE_SIGN_INS)
def test_hostile_sign_in_is_refused_without_writing_anything(app, world, make):
    email, password = make(world.users["officer"].email)
    client = SignedInClient(app, None)
    before = db_state()
    response = client.http.post("/sign-in", data={"email": email, "password": password, "csrf_token": token(client)})
    assert 400 <= response.status_code < 500, describe(response)
    assert SCRIPT not in response.get_data(as_text=True)
    assert db_state() == before  # a failed attempt goes to login_attempts only
    assert _signed_in_page_status(client) == 302


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/agreements/\r\nSet-Cookie: x=1",
        "http://localhost/agreements/",
        " //evil.example",
        "/\x00/evil",
        "9" * 40,
    ],
)
def test_sign_in_with_a_hostile_next_stays_on_the_site(app, world, target):
    client = SignedInClient(app, None)
    response = client.http.post(
        "/sign-in",
        data={
            "email": f"  {world.users['officer'].email.upper()} ",
            "password": factories.PASSWORD,
            "next": target,
            "csrf_token": token(client),
        },
    )
    assert response.status_code == 302, describe(response)
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc and location.startswith("/") and not location.startswith("//")
    assert "\\" not in location and "\r" not in location and "\n" not in location
    assert _signed_in_page_status(client) == 200


@pytest.mark.parametrize(
    "language", ["xx", "", "AR", "ar\x00", "../../etc/passwd", "9" * 40, SCRIPT, ["xx", "ar"], ["ar", "xx"]]
)
def test_hostile_language_choices_keep_a_known_language(app, world, signed_in, language):
    client = signed_in("officer")
    before = db_state()
    response = client.http.post("/language", data={"language": language, "csrf_token": token(client)})
    assert response.status_code == 302, describe(response)
    kept = stored(User, world.users["officer"].id)["language"]
    assert kept in app.config["LANGUAGES"]
    if kept != "en":  # changed: only to a language that was sent
        assert kept in [cleaned(value) for value in (language if isinstance(language, list) else [language])]

    def others(state):
        return {table: rows for table, rows in state.items() if table != "users"}

    assert others(db_state()) == others(before)
    assert _signed_in_page_status(client) == 200


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/agreements/\r\nX: y"],
)
def test_language_switch_with_a_hostile_next_stays_on_the_site(app, world, signed_in, target):
    client = signed_in("officer")
    response = client.http.post("/language", data={"language": "fr", "next": target, "csrf_token": token(client)})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost") and location.scheme in ("", "http")
    assert not response.headers["Location"].startswith("//")


def test_sign_out_ignores_hostile_fields(app, world, signed_in):
    client = signed_in("officer")
    response = client.http.post(
        "/sign-out", data={"csrf_token": token(client), "next": "//evil.example", "user_id": "1", "<script>": SCRIPT}
    )
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/sign-in"
    assert _signed_in_page_status(client) == 302


def test_a_forged_sign_out_without_token_is_refused(app, world, signed_in):
    client = signed_in("officer")
    response = client.http.post("/sign-out", data={"x": "y"})
    assert response.status_code in (302, 400, 403)
    assert _signed_in_page_status(client) == 200


# --- wrong content types and oversized bodies -----------------------------------

# Every POST route: role (None: anonymous), path, and a text field to abuse.
POST_ROUTES = {key: (route.role, route.path, route.required[0]) for key, route in ROUTES.items()}
POST_ROUTES.update(
    {
        "account-password": ("officer", lambda w: "/account/password", "current_password"),
        "sign-in": (None, lambda w: "/sign-in", "email"),
        "language": ("officer", lambda w: "/language", "language"),
        "sign-out": ("officer", lambda w: "/sign-out", "next"),
    }
)


def _client_for(app, world, role):
    return SignedInClient(app, world.users[role] if role else None)


JSON_BODIES = {
    "list": "[1, 2]",
    "string": '"text"',
    "number": "42",
    "boolean": "true",
    "null": "null",
    "malformed": "{not json",
    "field-number": {"FIELD": 123},
    "field-object": {"FIELD": {"a": 1}},
    "field-list": {"FIELD": [1, 2]},
}


@pytest.mark.parametrize("body_name", JSON_BODIES)
def test_a_json_body_to_a_form_route_changes_nothing_and_is_not_a_500(app, world, body_name):
    problems = []
    for key, (role, path, text_field) in POST_ROUTES.items():
        if key == "sign-out":  # reads no form
            continue
        client = _client_for(app, world, role)
        body = JSON_BODIES[body_name]
        if isinstance(body, dict):
            body = json.dumps({text_field: body["FIELD"]})
        before = db_state()
        response = client.http.post(
            path(world), data=body, content_type="application/json", headers={"X-CSRFToken": token(client)}
        )
        if not (400 <= response.status_code < 500 or response.status_code in (302, 303)):
            problems.append(f"{key}: {response.status_code}")
        elif db_state() != before:
            problems.append(f"{key}: {response.status_code}, and it wrote to the database")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", POST_ROUTES)
def test_a_json_body_without_csrf_token_is_refused_in_json(app, world, key):
    role, path, _ = POST_ROUTES[key]
    client = _client_for(app, world, role)
    before = db_state()
    response = client.http.post(path(world), json={"title_fr": "x", "email": "a@example.org"})
    assert response.status_code == 400, describe(response)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 400 and "token" in response.get_json()["detail"]
    assert db_state() == before
    assert client.get("/agreements/").status_code == (302 if role is None else 200)  # sign-out refused too


@pytest.mark.parametrize("route", route_params())
def test_a_form_sent_as_plain_text_changes_nothing(app, world, signed_in, route):
    client = signed_in(route.role)
    body = "&".join(f"{k}={v}" for k, v in route.valid(world).items() if isinstance(v, str))
    attempt = Attempt(
        client, route, world, data=body, content_type="text/plain", headers={"X-CSRFToken": token(client)}
    )
    attempt.assert_nothing_written()


def test_a_file_where_text_belongs_is_never_stored_as_text(app, world, signed_in):
    """An upload in a text field is refused, or ignored (the field counts as empty); never a 500."""
    problems = []
    for route in ROUTES.values():
        client = signed_in(route.role)
        field_name = route.required[0]
        upload = (io.BytesIO(b"file content"), "x.txt", "text/plain")
        data = {**route.valid(world), field_name: upload, "csrf_token": token(client)}
        attempt = Attempt(client, route, world, data=data, content_type="multipart/form-data")
        if attempt.refused:
            problem = attempt.refusal_problem()
        elif attempt.status in (302, 303):
            kept = attempt.assert_accepted()[field_name]
            problem = None if kept is None else f"stored {kept!r}"
        else:
            problem = describe(attempt.response)[:300]
        if problem:
            problems.append(f"{route.key}: {problem}")
    assert not problems, "\n".join(problems)


@functools.lru_cache(maxsize=1)
def _body_of(size: int) -> bytes:
    return b"title_fr=" + b"x" * (size - len(b"title_fr="))


@pytest.fixture
def oversized_body():
    """A form body one byte over MAX_CONTENT_LENGTH."""
    return lambda app: _body_of(app.config["MAX_CONTENT_LENGTH"] + 1)


@pytest.mark.parametrize("key", POST_ROUTES)
def test_a_body_over_the_size_limit_is_a_413_with_the_limit(app, world, oversized_body, key):
    role, path, _ = POST_ROUTES[key]
    client = _client_for(app, world, role)
    # The limit the forms speak of (files in all), not the request's, a megabyte more for the other fields.
    limit_mb = app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024)
    before = db_state()
    response = client.http.post(
        path(world),
        data=oversized_body(app),
        headers={"Accept-Language": "en"},
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413, describe(response)[:300]
    assert f"{limit_mb} MB" in response.get_data(as_text=True)
    assert db_state() == before


def test_an_oversized_body_gets_a_json_413_when_json_is_wanted(app, world, oversized_body):
    client = _client_for(app, world, "officer")
    response = client.http.post(
        "/agreements/new",
        data=oversized_body(app),
        headers={"Accept": "application/json"},
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 413


# --- URL-level hostility ---------------------------------------------------------

# Beyond the 32-bit id columns: once answered 500 on PostgreSQL ("integer out of range").
INT4_OVERFLOW = ["2147483648", "9223372036854775807"]
HOSTILE_IDS = [
    "9" * 40,
    "-1",
    "abc",
    "0",
    "1.5",
    "%00",
    "1%20OR%201=1",
    "..%2F..%2Fetc%2Fpasswd",
    "9223372036854775808",
    *INT4_OVERFLOW,
]
OBJECT_URLS = [
    "/agreements/{}",
    "/agreements/{}/edit",
    "/organizations/{}",
    "/organizations/{}/edit",
    "/events/{}",
    "/events/{}/edit",
    "/admin/users/{}/edit",
]


@pytest.mark.parametrize("object_id", HOSTILE_IDS)
def test_hostile_ids_in_urls_are_404(app, world, signed_in, object_id):
    client = signed_in("admin")
    problems = []
    for template in OBJECT_URLS:
        url = template.format(object_id)
        if (status := client.get(url).status_code) != 404:
            problems.append(f"GET {url}: {status}")
        if url.endswith("/edit"):
            before = db_state()
            status = client.http.post(url, data={"csrf_token": token(client), "title_fr": "x"}).status_code
            if status != 404 or db_state() != before:
                problems.append(f"POST {url}: {status}")
    assert not problems, "\n".join(problems)


# A NUL byte in a search term once reached PostgreSQL in the LIKE pattern (500).


@pytest.mark.parametrize(
    "query",
    [
        "page=",
        "page=abc",
        "page=-1",
        "page=0",
        "page=1e3",
        "page=99999999999999999999",
        "page=%00",
        "page=1&page=abc",
        "page[]=1",
        "page=" + "9" * 5000,
        "state=%00&type=%00&partner=%00&year=%00",
        "partner=2147483648",
        "year=-0",
        "q=%25%25%25%5F%5C",
        "q=" + "ش" * 3000,
        "q=%00",
    ],
)
def test_hostile_list_queries_never_fail(app, world, signed_in, query):
    response = signed_in("officer").get(f"/agreements/?{query}")
    assert response.status_code == 200, describe(response)[:500]


@pytest.mark.parametrize(
    "query", ["page=abc", "page=-5", "role=%3Cscript%3E", "role=admin&role=partner", "q=%25_%5C", "q=%00"]
)
def test_hostile_user_list_queries_never_fail(app, world, signed_in, query):
    response = signed_in("admin").get(f"/admin/users?{query}")
    assert response.status_code == 200, describe(response)[:500]
    assert SCRIPT not in response.get_data(as_text=True)


VIEW_ROUTES = {
    "agreement-view": ("officer", lambda w: f"/agreements/{w.agreement_a.id}"),
    "organization-view": ("officer", lambda w: f"/organizations/{w.partner_a.id}"),
    "event-view": ("officer", lambda w: f"/events/{w.event.id}"),
}


@pytest.mark.parametrize("key", [*POST_ROUTES, *VIEW_ROUTES])
def test_other_methods_are_405(app, world, key):
    role, path = VIEW_ROUTES[key] if key in VIEW_ROUTES else POST_ROUTES[key][:2]
    client = _client_for(app, world, role)
    before = db_state()
    statuses = {
        method: client.http.open(path(world), method=method, data={"csrf_token": token(client)}).status_code
        for method in ("PUT", "DELETE", "PATCH")
    }
    assert statuses == {"PUT": 405, "DELETE": 405, "PATCH": 405}
    assert db_state() == before


def test_a_new_organisation_gets_a_short_name_from_its_acronym_or_name_and_no_kind_in_advance(app, world, signed_in):
    """The name "Agence Stat" was refused as a short name and a company added in a hurry was filed as a ministry
    (the list's first kind): the short name may be left empty (made from the acronym or the Latin name,
    numbered when taken), and the kind must be chosen."""
    officer = signed_in("officer")
    page = officer.get("/organizations/new").get_data(as_text=True)
    kinds = page.split('name="kind"')[1].split("</select>")[0]
    assert "selected" not in kinds and kinds.index('value=""') < kinds.index('value="ministry"')
    base = {"name_fr": "Agence Stat", "kind": "company", "country": "MA", "slug": ""}
    assert officer.post("/organizations/new", data=base).status_code in (302, 303)
    assert officer.post("/organizations/new", data={**base, "name_fr": "Agence Stat."}).status_code in (302, 303)
    made = db.session.scalars(select(Organization.slug).where(Organization.name_fr.like("Agence Stat%"))).all()
    assert sorted(made) == ["agence-stat", "agence-stat-2"]
    # The same name again (in any case) is the same organisation: refused, naming the one that has it.
    twice = officer.post("/organizations/new", data={**base, "name_fr": "agence STAT"})
    assert twice.status_code == 422 and "“Agence Stat” already has this name" in twice.get_data(as_text=True)
    with_acronym = {**base, "name_fr": "Haut-Commissariat au Plan", "acronym": "HCP"}
    assert officer.post("/organizations/new", data=with_acronym).status_code in (302, 303)
    assert db.session.scalar(select(Organization.slug).where(Organization.acronym == "HCP")) == "hcp"
    # Arabic alone gives no letters to make one from: asked for, saying why (the rule for a typed short name
    # alone had been refused for a field left empty as its help allowed).
    refused = officer.post("/organizations/new", data={**base, "name_fr": "", "name_ar": "وكالة"})
    said = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "A name in Arabic alone gives no short name" in said
    no_kind = officer.post("/organizations/new", data={**base, "name_fr": "Sans genre", "kind": ""})
    assert no_kind.status_code == 422 and "Choose a kind from the list." in no_kind.get_data(as_text=True)


def test_an_arabic_reader_is_told_in_arabic_why_an_arabic_name_alone_needs_a_short_name(app, world, signed_in):
    officer = world.users["officer"]
    officer.language = "ar"
    db.session.commit()
    data = {"name_ar": "جمعية الجزري للتكنولوجيا", "kind": "company", "country": "MA", "slug": ""}
    refused = signed_in("officer").post("/organizations/new", data=data)
    assert refused.status_code == 422
    assert "لا يُشتق اسم مختصر من اسم بالعربية وحده" in refused.get_data(as_text=True)


def test_a_new_user_refused_hears_everything_wrong_at_once(app, world, signed_in):
    """No password and a partner without an organisation: both said on the first try (the password was
    said first, the organisation only once a password was given)."""
    admin = signed_in("admin")
    form = {"email": "new.partner@example.org", "full_name": "New Partner", "role": "partner", "language": "fr"}
    response = admin.post("/admin/users/new", data={**form, "password": "", "organization_id": ""})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give an initial password." in body and "must belong to a partner organisation" in body
    assert db.session.scalar(select(User).where(User.email == "new.partner@example.org")) is None


@pytest.mark.parametrize("typed, said", [("2026-02-30", "Not a valid date value"), ("", "This field is required")])
def test_an_impossible_date_is_said_to_be_one_not_missing(signed_in, typed, said):
    """2026-02-30 in a required date had answered "This field is required." (as if nothing was typed)."""
    response = signed_in("officer").post("/events/new", data={"name_fr": "Cérémonie", "held_on": typed})
    assert response.status_code == 422 and said in response.get_data(as_text=True)


def test_an_address_pasted_with_spaces_and_a_country_that_is_none(signed_in, world):
    """An e-mail with a trailing space is the address (the sign-in trims it; the admin's form refused it);
    XX and EU are no country codes, though two letters (the country decides foreign-partner steps)."""
    admin = signed_in("admin")
    made = admin.post(
        "/admin/users/new",
        data={
            "email": "  spaced.out@example.org ",
            "full_name": "Spaced Out",
            "role": "officer",
            "organization_id": str(world.ministry.id),
            "language": "fr",
            "is_active": "y",
            "password": "a long enough password",
        },
    )
    assert made.status_code in (302, 303), made.get_data(as_text=True)[:300]
    assert db.session.scalar(select(User.email).where(User.email == "spaced.out@example.org"))
    for code in ("XX", "EU"):
        refused = admin.post("/organizations/new", data={"name_fr": f"Pays {code}", "kind": "company", "country": code})
        assert refused.status_code == 422 and "two-letter country code" in refused.get_data(as_text=True)
    france = admin.post("/organizations/new", data={"name_fr": "Pays FR", "kind": "company", "country": "fr"})
    assert france.status_code in (302, 303)


@pytest.mark.parametrize(
    "data, said",
    [
        ({"name_fr": "x" * 301, "held_on": "2026-03-01"}, "يجب ألا يتجاوز الحقل 300 حرف."),
        ({"name_fr": "Cérémonie", "held_on": "2026-02-30"}, "هذا التاريخ غير صالح."),
    ],
)
def test_a_form_refusal_reads_in_arabic(world, signed_in, data, said):
    """WTForms' own messages: its Arabic catalogue leaves four of six plural forms empty, so "cannot be
    longer than 300 characters" came in English (core.form_words)."""
    world.users["officer"].language = "ar"
    db.session.commit()
    body = signed_in("officer").post("/events/new", data=data).get_data(as_text=True)
    assert said in body and "Field cannot be longer" not in body


def test_wtforms_words_no_reader_should_see_are_said_otherwise(app):
    from flask_babel import force_locale

    from app.core.forms import WTFORMS_MESSAGES

    with app.test_request_context():
        expected = {"en": "Not a valid choice.", "fr": "Ce choix n’est pas valide.", "ar": "هذا الاختيار غير صالح."}
        for language, said in expected.items():
            with force_locale(language):
                assert WTFORMS_MESSAGES.gettext("Invalid Choice: could not coerce.") == said
                assert WTFORMS_MESSAGES.gettext("Not a valid integer value.") != "قيمة العدد الحقيقي غير صالحة."


def test_an_organisation_named_like_another_but_for_accents_spaces_or_unicode_form_is_the_same(world, signed_in):
    """ "Mistràl AI", "Mistral  AI" and a name in decomposed Unicode (identical on screen) had each become a
    new organisation beside the existing one, with no way to merge them."""
    import unicodedata

    officer = signed_in("officer")
    base = {"kind": "company", "country": "FR", "slug": ""}
    first = "Société Générale Maroc"
    assert officer.post("/organizations/new", data={**base, "name_fr": first}).status_code in (302, 303)
    variants = ("Societe Generale Maroc", "Société  Générale   Maroc", unicodedata.normalize("NFD", first))
    for name in (*variants, "SociétéGénérale Maroc", "Société\u200bGénérale Maroc"):
        refused = officer.post("/organizations/new", data={**base, "name_fr": name})
        assert refused.status_code == 422 and "already has this name" in refused.get_data(as_text=True), name


def test_ministry_staff_made_on_the_admin_form_without_an_organisation_join_the_ministry(world, signed_in):
    """The form offers "—" and staff were made with no organisation, where the CLI put them in the ministry."""
    from app.auth.models import User

    form = {
        "email": "new.legal@sharaka.example",
        "full_name": "Nouvelle Juriste",
        "role": "legal",
        "organization_id": "",
        "language": "fr",
        "is_active": "y",
        "password": "a long enough password",
    }
    made = signed_in("admin").post("/admin/users/new", data=form)
    assert made.status_code in (302, 303), made.get_data(as_text=True)[:300]
    user = db.session.scalar(select(User).where(User.email == "new.legal@sharaka.example"))
    assert user.organization_id == world.ministry.id


def test_an_admin_changes_their_own_password_on_their_account_page_not_the_admin_form(world, signed_in):
    """The admin form asked no current password (an open session sufficed) and signed the admin out."""
    admin = world.users["admin"]
    form = {
        **ROUTES["user-edit"].valid(world),
        "email": admin.email,
        "full_name": admin.full_name,
        "role": "admin",
        "organization_id": str(world.ministry.id),
        "is_active": "y",
        "password": "another long enough password",
    }
    client = signed_in("admin")
    refused = client.post(f"/admin/users/{admin.id}/edit", data=form)
    assert refused.status_code == 422 and "on your account" in refused.get_data(as_text=True)
    assert client.get("/admin/users").status_code == 200  # still signed in
