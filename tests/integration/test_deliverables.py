"""Deliverables: plans, occurrences, statuses, hand-ins, reviews, files and isolation between partners."""

import hashlib
import re
from datetime import date, timedelta
from io import BytesIO

import pytest
from sqlalchemy import func, select

from app.core import clock
from app.core.audit import AuditEvent
from app.core.storage import StoredFile, path_for
from app.deliverables import services
from app.deliverables.models import Submission, shown_status
from app.discussions.models import DiscussionMessage
from app.extensions import db
from app.notifications.models import OutboxMessage
from app.workflow.engine import WorkflowError
from tests import factories

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"
TODAY = clock.today()


plan = factories.plan_line  # (other test modules import it from here)


@pytest.fixture
def due(world):
    """A deliverable of partner A, due in five days, and one of partner B."""
    officer = world.users["officer"]
    mine = plan(world.agreement_a, officer, responsible=world.partner_a).occurrences[0]
    theirs = plan(world.agreement_b, officer, responsible=world.partner_b).occurrences[0]
    db.session.commit()
    return mine, theirs


def test_due_dates_of_recurring_deliverables():
    assert services.due_dates("quarterly", date(2026, 1, 31), date(2026, 12, 31)) == [
        date(2026, 1, 31),
        date(2026, 4, 30),
        date(2026, 7, 31),
        date(2026, 10, 31),
    ]
    assert services.due_dates("monthly", date(2026, 1, 31), date(2026, 3, 31))[1] == date(2026, 2, 28)
    assert services.due_dates("yearly", date(2026, 6, 1), date(2029, 5, 31)) == [
        date(2026, 6, 1),
        date(2027, 6, 1),
        date(2028, 6, 1),
    ]
    assert services.due_dates("once", date(2026, 6, 1), None) == [date(2026, 6, 1)]
    assert len(services.due_dates("monthly", date(2026, 1, 1), date(2200, 1, 1))) == services.MAX_OCCURRENCES


def test_a_plan_line_owes_nothing_before_the_agreement_starts_and_names_all_its_dates(world):
    """A line due from 1956 to 2200 was stored with its first 240 dates, all overdue at once (and reminded);
    a first date before the agreement is signed or takes effect, or more dates than a line keeps, is refused."""
    officer, agreement = world.users["officer"], world.agreement_a  # signed on 1 July 2025

    def line(first, until=None, recurrence="monthly"):
        return services.PlanData(
            title_fr="Rapport",
            title_ar=None,
            title_en=None,
            description=None,
            responsible_organization_id=world.partner_a.id,
            recurrence=recurrence,
            first_due_on=first,
            until_on=until,
        )

    with pytest.raises(services.ValidationFailed) as refused:
        services.plan_deliverable(agreement, line(date(1956, 1, 1), date(2200, 12, 31)), by=officer)
    assert "July 1, 2025" in refused.value.field_errors["first_due_on"][0]  # as the reader writes dates
    with pytest.raises(services.ValidationFailed) as refused:
        services.plan_deliverable(agreement, line(date(2025, 7, 1), date(2200, 12, 31)), by=officer)
    assert "240" in refused.value.field_errors["until_on"][0]
    assert not agreement.deliverables
    kept = services.plan_deliverable(agreement, line(date(2025, 7, 1), date(2045, 6, 1)), by=officer)
    assert len(kept.occurrences) == services.MAX_OCCURRENCES  # exactly as many: kept whole


@pytest.mark.parametrize(
    "stored, due_in, expected",
    [
        ("pending", 40, "not_yet_due"),
        ("pending", 14, "due"),
        ("pending", 0, "due"),
        ("pending", -1, "overdue"),
        ("submitted", -10, "submitted"),
        ("sent_back", -3, "sent_back"),
        ("accepted", -30, "accepted"),
        ("waived", 3, "waived"),
    ],
)
def test_status_follows_the_date(stored, due_in, expected):
    assert shown_status(stored, TODAY + timedelta(days=due_in), TODAY, 14) == expected
    # Pending, it is not owed while its agreement does not run (a draft, a suspended agreement).
    idle = "not_owed" if stored == "pending" else expected
    assert shown_status(stored, TODAY + timedelta(days=due_in), TODAY, 14, falls_due=False) == idle


def test_recurring_plan_until_the_agreement_ends(app, world):
    world.agreement_a.expires_on = date(2027, 7, 1)
    deliverable = plan(
        world.agreement_a,
        world.users["officer"],
        responsible=world.partner_a,
        recurrence="quarterly",
        first=date(2026, 1, 1),
    )
    assert [o.due_on for o in deliverable.occurrences][-1] == date(2027, 7, 1)
    assert len(deliverable.occurrences) == 7
    # Replanning keeps what was handed in and moves only the open ones.
    first = deliverable.occurrences[0]
    first.status = "accepted"
    services.update_plan(
        deliverable,
        services.PlanData(
            title_fr="Rapport",
            title_ar=None,
            title_en=None,
            description=None,
            responsible_organization_id=world.partner_a.id,
            recurrence="yearly",
            first_due_on=date(2026, 3, 1),
            until_on=date(2027, 3, 1),
        ),
        by=world.users["officer"],
    )
    assert sorted(o.due_on for o in deliverable.occurrences) == [date(2026, 1, 1), date(2026, 3, 1), date(2027, 3, 1)]


def test_plan_rules(app, world):
    with pytest.raises(services.ValidationFailed, match="Please correct"):
        plan(world.agreement_a, world.users["officer"], responsible=world.partner_b)  # not a party
    with pytest.raises(services.ValidationFailed):
        plan(world.agreement_a, world.users["officer"], responsible=world.partner_a, recurrence="monthly")  # no end
    with pytest.raises(services.PermissionDenied):
        plan(world.agreement_a, world.users["other_officer"], responsible=world.partner_a)


def _files(*items):
    return {"files": [(BytesIO(body), name) for body, name in items]}


def _post(client, occurrence, path, data, **kwargs):
    db.session.refresh(occurrence)
    return client.post(
        f"/deliverables/{occurrence.id}/{path}",
        data={"version": str(occurrence.version), **data},
        csrf_from=f"/deliverables/{occurrence.id}",
        content_type="multipart/form-data",
        **kwargs,
    )


def test_hand_in_send_back_resubmit_accept(app, world, signed_in, due):
    mine, _ = due
    partner, officer = signed_in("partner"), signed_in("officer")
    assert "Rapport" in partner.get("/portal").get_data(as_text=True)
    response = _post(partner, mine, "submissions", {"note": "Q1", **_files((PDF, "rapport T1.pdf"))})
    assert response.status_code == 303
    db.session.refresh(mine)
    assert mine.status == "submitted" and len(mine.submissions) == 1
    # Feedback is required to send back.
    assert _post(officer, mine, "review", {"decision": "send_back"}).status_code == 303
    db.session.refresh(mine)
    assert mine.status == "submitted"
    assert (
        _post(officer, mine, "review", {"decision": "send_back", "feedback": "Ajoutez les annexes"}).status_code == 303
    )
    assert "Ajoutez les annexes" in partner.get(f"/deliverables/{mine.id}").get_data(as_text=True)
    assert (
        _post(partner, mine, "submissions", {"note": "v2", **_files((PDF + b"v2", "rapport T1 v2.pdf"))}).status_code
        == 303
    )
    assert _post(officer, mine, "review", {"decision": "accept"}).status_code == 303
    db.session.refresh(mine)
    assert mine.status == "accepted"
    assert [s.number for s in mine.submissions] == [1, 2]  # the first version is kept
    assert [s.decision for s in mine.submissions] == ["send_back", "accept"]
    actions = set(
        db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "deliverable_occurrences"))
    )
    assert {"deliverable_submitted", "deliverable_sent_back", "deliverable_accepted"} <= actions


def test_a_hand_in_waits_in_its_owners_actions_until_reviewed(app, world, signed_in, due):
    """A partner's hand-in is work for the agreement's owner: listed in "My actions" (the inbox and the
    dashboard) with a link to the review, and gone once reviewed; nobody else's inbox lists it."""
    mine, _ = due
    partner, officer = signed_in("partner"), signed_in("officer")
    review_link = f'href="/deliverables/{mine.id}"'

    def waiting(client, path="/inbox"):
        page = client.get(path).get_data(as_text=True)
        return "Review the hand-in" in page and review_link in page

    assert not waiting(officer)
    assert _post(partner, mine, "submissions", {"note": "Q1", **_files((PDF, "rapport T1.pdf"))}).status_code == 303
    assert waiting(officer) and waiting(officer, "/dashboard")
    assert not waiting(signed_in("other_officer")) and not waiting(signed_in("manager"))
    assert _post(officer, mine, "review", {"decision": "send_back", "feedback": "Annexes"}).status_code == 303
    assert not waiting(officer)  # back with the partner
    assert _post(partner, mine, "submissions", {"note": "v2", **_files((PDF + b"2", "v2.pdf"))}).status_code == 303
    assert waiting(officer)
    # The owner is told it is the answer to their send-back, not a hand-in like the first.
    told = db.session.scalars(
        select(OutboxMessage.subject)
        .where(OutboxMessage.recipient_id == world.users["officer"].id, OutboxMessage.kind == "deliverable_submitted")
        .order_by(OutboxMessage.id)
    ).all()
    assert [subject.split(":")[0] for subject in told] == ["Handed in", "Handed in again"]
    assert _post(officer, mine, "review", {"decision": "accept"}).status_code == 303
    assert not waiting(officer) and not waiting(officer, "/dashboard")


def test_a_partner_asking_for_my_actions_is_shown_what_they_owe(app, world, signed_in, due):
    """ "My actions" lists the ministry's work (approvals, moves, reviews): a partner who opens it (a bookmark,
    a pasted link) is taken to their portal, which lists what they owe, instead of being told that nothing
    waits on them while a hand-in is late."""
    mine, _ = due
    partner = signed_in("partner")
    response = partner.get("/inbox")
    assert response.status_code == 302 and response.headers["Location"] == "/portal"
    portal = partner.get("/portal").get_data(as_text=True)
    assert f'data-occurrence="{mine.id}"' in portal and "Nothing waits on you" not in portal


def test_waive_needs_a_manager_and_a_reason(app, world, signed_in, due):
    mine, _ = due
    assert _post(signed_in("officer"), mine, "waive", {"reason": "x"}).status_code == 403
    assert _post(signed_in("manager"), mine, "waive", {"reason": ""}).status_code == 303
    db.session.refresh(mine)
    assert mine.status == "pending"
    assert (
        _post(signed_in("manager"), mine, "waive", {"reason": "Reporting merged into annual review"}).status_code == 303
    )
    db.session.refresh(mine)
    assert mine.status == "waived" and "merged" in mine.waived_reason


def test_files_are_stored_by_hash_and_downloaded_through_the_permission_check(app, world, signed_in, due):
    mine, _ = due
    _post(signed_in("partner"), mine, "submissions", _files((PDF, "تقرير.pdf")))
    db.session.refresh(mine)
    record = mine.submissions[0].files[0]
    sha = hashlib.sha256(PDF).hexdigest()
    assert record.stored_file.sha256 == sha and path_for(sha).read_bytes() == PDF
    assert record.original_name == "تقرير.pdf"
    url = f"/deliverables/files/{record.id}"
    response = signed_in("officer").get(url)
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in response.headers["Content-Disposition"]
    # Kept once per content: the file's time is when anyone first stored these bytes, another
    # organisation's business (an outside probe learned when a partner had handed in the same file).
    assert "Last-Modified" not in response.headers and "ETag" not in response.headers
    # The Arabic name for browsers (filename*), a plain one for scripts that read only filename= (it was
    # ".pdf", a hidden file that each download overwrote).
    disposition = response.headers["Content-Disposition"]
    assert 'filename="document.pdf"' in disposition and "filename*=UTF-8''%D8%AA" in disposition
    resumed = signed_in("officer").get(url, headers={"Range": "bytes=4-"})
    assert resumed.status_code == 206 and resumed.data == PDF[4:]
    beyond = signed_in("officer").get(url, headers={"Range": f"bytes={len(PDF) + 1}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(PDF)}"
    assert "Range not available" in beyond.get_data(as_text=True)
    assert signed_in("partner_b").get(url).status_code == 404
    assert signed_in("auditor").get(url).status_code == 200


def test_a_file_is_named_by_what_it_holds_not_by_what_it_was_called(app, world, signed_in, due):
    """A PDF sent as a program (with a right-to-left override hiding ".exe") is kept and downloaded as a
    PDF; a name without an extension gets its type's; one already right keeps its own."""
    mine, _ = due
    sent = [(PDF + b"1", "evil\u202efdp.exe"), (PDF + b"2", "rapport"), (PDF + b"3", "Rapport.PDF")]
    _post(signed_in("partner"), mine, "submissions", _files(*sent))
    db.session.refresh(mine)
    names = sorted(record.original_name for record in mine.submissions[0].files)
    assert names == ["Rapport.PDF", "evilfdp.pdf", "rapport.pdf"]
    evil = next(record for record in mine.submissions[0].files if record.original_name == "evilfdp.pdf")
    response = signed_in("officer").get(f"/deliverables/files/{evil.id}")
    assert response.mimetype == "application/pdf" and "evilfdp.pdf" in response.headers["Content-Disposition"]
    # A file kept under a wrong name before this rule is still sent with its type's extension.
    evil.original_name = "ancien.exe"
    db.session.commit()
    response = signed_in("officer").get(f"/deliverables/files/{evil.id}")
    disposition = response.headers["Content-Disposition"]
    assert "ancien.pdf" in disposition and ".exe" not in disposition


def test_a_name_with_header_syntax_in_it_downloads_as_that_name_and_a_pdf(app, world, signed_in, due):
    """A partner named a hand-in `rapport;filename*=UTF-8''x.hta;.pdf`: werkzeug's header quoted it, the plain
    name was then read up to its ";", and wget, werkzeug or a client preferring `filename*` saved the officer's
    download as `x.hta` (an outside probe). Every reading of the header now gives the name as handed in, and
    the plain `filename=` keeps nothing a parser could take for a parameter."""
    from werkzeug.http import parse_options_header

    mine, _ = due
    names = ["rapport;filename*=UTF-8''x.hta;.pdf", "Rapport T3; version finale.pdf", "Été 2026 (final).pdf"]
    _post(signed_in("partner"), mine, "submissions", _files(*[(PDF + bytes([i]), n) for i, n in enumerate(names)]))
    db.session.refresh(mine)
    officer = signed_in("officer")
    for record in mine.submissions[0].files:
        disposition = officer.get(f"/deliverables/files/{record.id}").headers["Content-Disposition"]
        kind, parameters = parse_options_header(disposition)
        assert kind == "attachment" and parameters["filename"] == record.original_name, disposition
        plain = re.fullmatch(r'attachment; filename="([^"]*)"(?:; filename\*=UTF-8\'\'[A-Za-z0-9%._~-]+)?', disposition)
        assert plain and ";" not in plain.group(1) and plain.group(1).endswith(".pdf"), disposition
    assert sorted(record.original_name for record in mine.submissions[0].files) == sorted(names)


EXE = b"MZ\x90\x00" + b"\x00" * 200
HOSTILE_UPLOADS = [
    ("empty", [(b"", "vide.pdf")], "empty"),
    ("executable named pdf", [(EXE, "rapport.pdf")], "not accepted"),
    ("html named pdf", [(b"<html><script>alert(1)</script>", "x.pdf")], "not accepted"),
    ("no file", [], "at least one file"),
]


@pytest.mark.parametrize("name, files, message", HOSTILE_UPLOADS, ids=[h[0] for h in HOSTILE_UPLOADS])
def test_hostile_uploads_are_refused_and_nothing_is_stored(app, world, signed_in, due, name, files, message):
    mine, _ = due
    partner = signed_in("partner")
    before = (
        db.session.scalar(select(func.count()).select_from(StoredFile)),
        db.session.scalar(select(func.count()).select_from(Submission)),
    )
    response = _post(partner, mine, "submissions", _files(*files) if files else {})
    assert response.status_code == 303
    assert message in partner.get(f"/deliverables/{mine.id}").get_data(as_text=True)
    db.session.refresh(mine)
    assert mine.status == "pending"
    assert (
        db.session.scalar(select(func.count()).select_from(StoredFile)),
        db.session.scalar(select(func.count()).select_from(Submission)),
    ) == before


def test_an_upload_over_the_limit_gets_a_clear_413(app, world, signed_in, due):
    mine, _ = due
    big = b"%PDF-1.4\n" + b"0" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = _post(
        signed_in("partner"), mine, "submissions", _files((big, "gros.pdf")), headers={"Accept": "application/json"}
    )
    assert response.status_code == 413
    assert "MB" in response.get_json()["detail"]


def test_a_file_just_over_the_file_limit_is_refused_by_the_service(app, world, signed_in, due):
    mine, _ = due
    big = b"%PDF-1.4\n" + b"0" * (app.config["MAX_UPLOAD_BYTES"] + 10)
    partner = signed_in("partner")
    assert _post(partner, mine, "submissions", _files((big, "gros.pdf"))).status_code == 303
    assert "larger than" in partner.get(f"/deliverables/{mine.id}").get_data(as_text=True)


def test_odd_names_and_duplicates(app, world, signed_in, due):
    mine, _ = due
    arabic_name = "ت" * 300 + ".pdf"
    _post(
        signed_in("partner"),
        mine,
        "submissions",
        _files((PDF, "../../etc/passwd"), (PDF, arabic_name), (PDF + b"2", arabic_name)),
    )
    db.session.refresh(mine)
    names = [f.original_name for f in mine.submissions[0].files]
    assert names[0] == "passwd.pdf"  # no path survives; named by its content's type
    assert len(names) == 2  # the same bytes twice are kept once
    assert all(len(n) <= 200 for n in names) and names[1].endswith(".pdf")
    assert (
        db.session.scalar(
            select(func.count()).select_from(StoredFile).where(StoredFile.sha256 == hashlib.sha256(PDF).hexdigest())
        )
        == 1
    )


def test_partners_see_and_touch_only_their_own(app, world, signed_in, due):
    mine, theirs = due
    partner = signed_in("partner")
    assert partner.get(f"/deliverables/{theirs.id}").status_code == 404
    assert partner.get(f"/deliverables/{mine.id}").status_code == 200
    listing = partner.get("/deliverables/").get_data(as_text=True)
    assert f"/deliverables/{mine.id}" in listing and f"/deliverables/{theirs.id}" not in listing
    for path in ("submissions", "review", "waive"):
        db.session.refresh(theirs)
        response = partner.post(
            f"/deliverables/{theirs.id}/{path}", data={"version": str(theirs.version)}, csrf_from="/portal"
        )
        assert response.status_code == 404, path
    assert partner.get(f"/agreements/{world.agreement_b.id}/deliverables/new").status_code == 404
    db.session.refresh(theirs)
    assert theirs.status == "pending"


def test_filters_on_the_portfolio_list(app, world, signed_in, due):
    mine, theirs = due
    theirs.due_on = TODAY - timedelta(days=3)
    db.session.commit()
    officer = signed_in("officer")
    overdue = officer.get("/deliverables/?status=overdue").get_data(as_text=True)
    assert f"/deliverables/{theirs.id}" in overdue and f"/deliverables/{mine.id}" not in overdue
    by_partner = officer.get(f"/deliverables/?partner={world.partner_a.id}").get_data(as_text=True)
    assert f"/deliverables/{mine.id}" in by_partner and f"/deliverables/{theirs.id}" not in by_partner
    before = officer.get(f"/deliverables/?due_before={TODAY.isoformat()}").get_data(as_text=True)
    assert f"/deliverables/{theirs.id}" in before and f"/deliverables/{mine.id}" not in before
    for garbage in ("status=zzz", "agreement=abc", "partner=%00", "due_before=2026-02-30", "page=-4"):
        assert officer.get(f"/deliverables/?{garbage}").status_code == 200


def _signed(world):
    """An agreement signed on 5 January 2026, waiting to come into force."""
    from app.workflow import engine

    agreement = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], state="signed", signed_on=date(2026, 1, 5)
    )
    engine.settle_state(agreement)
    return agreement


def _activate(agreement, world):
    """Into force from 10 January 2026 to 10 January 2028, by the officer."""
    from app.workflow import engine

    engine.take(
        agreement,
        "activate",
        by=world.users["officer"],
        expected_version=agreement.version,
        values={"effective_on": date(2026, 1, 10), "expires_on": date(2028, 1, 10)},
    )
    db.session.commit()


def test_activation_plans_the_default_deliverables(app, world):

    agreement = _signed(world)
    db.session.commit()
    _activate(agreement, world)
    titles = {d.title_en: d for d in agreement.deliverables}
    assert set(titles) == {"Quarterly progress report", "Annual joint review"}
    assert titles["Quarterly progress report"].occurrences[0].due_on == date(2026, 4, 10)
    assert titles["Annual joint review"].responsible_organization.is_home


def test_an_agreement_planned_already_keeps_its_own_plan_at_activation(app, world, signed_in):
    """The text often names its reports: planned before, they are what the partner owes; the type's
    default reports are not added beside them (a partner owed two quarterly reports each quarter)."""

    agreement = _signed(world)
    factories.plan_line(
        agreement,
        world.users["officer"],
        responsible=world.partner_a,
        recurrence="quarterly",
        first=date(2026, 3, 31),
        until=date(2027, 12, 31),
    )
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "own plan stands" in page
    _activate(agreement, world)
    assert [d.title_fr for d in agreement.deliverables] == ["Rapport"]


def test_the_activation_form_can_add_a_deliverable(app, world, signed_in):

    agreement = _signed(world)
    db.session.commit()
    # The day it was signed is offered as the day it comes into effect, to be changed.
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'name="effective_on" value="2026-01-05"' in page
    response = signed_in("officer").post(
        f"/agreements/{agreement.id}/actions/activate",
        csrf_from=f"/agreements/{agreement.id}",
        data={
            "version": str(agreement.version),
            "effective_on": "2026-01-10",
            "expires_on": "2027-01-10",
            "deliverable_title_fr": "Plan de formation",
            "deliverable_title_ar": "خطة التكوين",
            "deliverable_recurrence": "once",
            "deliverable_first_due_on": "2026-03-01",
        },
    )
    assert response.status_code == 303
    db.session.refresh(agreement)
    assert agreement.state == "active"
    # Each title in its language, as the plan's form files them (one title filed in the officer's language
    # had reached a French partner in Arabic).
    added = next(d for d in agreement.deliverables if d.title_fr == "Plan de formation")
    assert (added.title_ar, added.title_en) == ("خطة التكوين", None)
    assert added.responsible_organization_id == world.partner_a.id  # the only partner


def test_the_activation_form_asks_which_partner_hands_in_the_deliverable_it_adds(app, world, signed_in):
    """With two partners, the first had been taken without a word."""
    from app.agreements.models import AgreementParty

    agreement = _signed(world)
    agreement.parties.append(AgreementParty(organization_id=world.partner_b.id, role="partner"))
    db.session.commit()
    officer = signed_in("officer")
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'name="deliverable_responsible"' in page
    data = {
        "version": str(agreement.version),
        "effective_on": "2026-01-10",
        "expires_on": "2027-01-10",
        "deliverable_title": "Plan de formation",
        "deliverable_recurrence": "once",
        "deliverable_first_due_on": "2026-03-01",
    }
    url = f"/agreements/{agreement.id}/actions/activate"
    # (`deliverable_title`: the one title of a page drawn before the three, filed in the reader's language.)
    refused = officer.post(url, csrf_from=f"/agreements/{agreement.id}", data=data, follow_redirects=True)
    assert "Say which partner hands in the deliverable you add." in refused.get_data(as_text=True)
    db.session.refresh(agreement)
    assert agreement.state == "signed"  # the move waits for the answer
    data["deliverable_responsible"] = str(world.partner_b.id)
    assert officer.post(url, csrf_from=f"/agreements/{agreement.id}", data=data).status_code == 303
    db.session.refresh(agreement)
    added = next(d for d in agreement.deliverables if d.title_en == "Plan de formation")
    assert agreement.state == "active" and added.responsible_organization_id == world.partner_b.id


def test_allowed_types_come_from_configuration(app, world, signed_in, due):
    from flask import current_app

    mine, _ = due
    allowed = current_app.config["ALLOWED_UPLOAD_TYPES"]
    current_app.config["ALLOWED_UPLOAD_TYPES"] = ("PNG",)
    app.config["ALLOWED_UPLOAD_TYPES"] = ("PNG",)
    try:
        partner = signed_in("partner")
        _post(partner, mine, "submissions", _files((PDF, "rapport.pdf")))
        assert "Allowed: PNG" in partner.get(f"/deliverables/{mine.id}").get_data(as_text=True)
    finally:
        current_app.config["ALLOWED_UPLOAD_TYPES"] = allowed
        app.config["ALLOWED_UPLOAD_TYPES"] = allowed
    db.session.refresh(mine)
    assert mine.status == "pending"


def test_the_portal_lists_the_first_few_and_links_to_the_rest(world, signed_in):
    """A partner with more due than the portal lists sees the first PORTAL_LISTED, soonest first, the
    total, and a link to the full list, which has them all."""
    officer = world.users["officer"]
    first = TODAY - timedelta(days=31 * (services.PORTAL_LISTED + 2))
    world.agreement_a.signed_on = min(world.agreement_a.signed_on, first)  # nothing is owed before it starts
    monthly = plan(
        world.agreement_a,
        officer,
        responsible=world.partner_a,
        recurrence="monthly",
        first=first,
        until=TODAY - timedelta(days=1),
    )
    db.session.commit()
    overdue = sorted(monthly.occurrences, key=lambda o: o.due_on)
    assert len(overdue) > services.PORTAL_LISTED
    partner = signed_in("partner")
    portal = partner.get("/portal").get_data(as_text=True)
    shown = [o for o in overdue if f'data-occurrence="{o.id}"' in portal]
    assert shown == overdue[: services.PORTAL_LISTED]
    link = f"/deliverables/?status=open&amp;partner={world.partner_a.id}"
    assert link in portal and f"Show all {len(overdue)} in the list" in portal
    everything = partner.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert all(f'href="/deliverables/{o.id}"' in everything for o in overdue)


def test_the_portal_names_what_falls_due_after_its_window(world, signed_in):
    """Reports due in five weeks, nothing within the window: the portal had said only "Nothing is due"."""
    officer = world.users["officer"]
    later = plan(world.agreement_a, officer, responsible=world.partner_a, first=TODAY + timedelta(days=36))
    theirs = plan(world.agreement_b, officer, responsible=world.partner_b, first=TODAY + timedelta(days=30))
    db.session.commit()
    portal = signed_in("partner").get("/portal").get_data(as_text=True)
    assert "Nothing is overdue, sent back or due within 14 days." in portal
    coming = portal.partition('id="coming-heading"')[2]
    assert f'data-occurrence="{later.occurrences[0].id}"' in coming and "in 36 days" in coming
    assert f'data-occurrence="{theirs.occurrences[0].id}"' not in portal  # another organisation's
    assert f"/deliverables/?status=unfinished&amp;partner={world.partner_a.id}" in coming


@pytest.mark.parametrize("ended", ["terminated", "cancelled"])
def test_an_ended_agreement_takes_no_new_plan_line_and_no_hand_in(app, world, signed_in, due, ended):
    """Terminated or cancelled: nothing more is planned or handed in under it (the partner had handed in
    on a cancelled agreement, and a line planned on a terminated one was overdue at once). What waits for
    review can still be settled."""
    mine, _ = due
    partner, officer = signed_in("partner"), signed_in("officer")
    submitted = plan(world.agreement_a, world.users["officer"], responsible=world.partner_a, title="Annexe")
    db.session.commit()
    waiting = submitted.occurrences[0]
    assert _post(partner, waiting, "submissions", {"note": "avant", **_files((PDF, "annexe.pdf"))}).status_code == 303
    world.agreement_a.state = ended
    db.session.commit()
    response = _post(partner, mine, "submissions", {"note": "après", **_files((PDF, "rapport.pdf"))})
    db.session.refresh(mine)
    assert response.status_code == 303 and mine.status == "pending" and not mine.submissions
    with pytest.raises(WorkflowError, match="has ended"):
        plan(world.agreement_a, world.users["officer"], responsible=world.partner_a, title="Nouveau")
    db.session.rollback()
    page = signed_in("partner").get(f"/deliverables/{mine.id}").get_data(as_text=True)
    assert 'id="submit-heading"' not in page  # no hand-in form is offered
    # The hand-in made before the end is still reviewed.
    assert _post(officer, waiting, "review", {"decision": "accept"}).status_code == 303
    db.session.refresh(waiting)
    assert waiting.status == "accepted"


def test_nothing_is_handed_in_before_the_agreement_is_signed(app, world, signed_in):
    """A plan may be drawn up during the talks, but nothing is owed yet: the form is not offered and a
    hand-in sent all the same is refused (it had been announced to the owner as work to review)."""
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="En discussion")
    early = plan(draft, world.users["officer"], responsible=world.partner_a).occurrences[0]
    factories.shown_to_partners(draft)  # the partner reads it (in the talks), and still hands in nothing
    db.session.commit()
    partner = signed_in("partner")
    assert 'id="submit-heading"' not in partner.get(f"/deliverables/{early.id}").get_data(as_text=True)
    _post(partner, early, "submissions", {"note": "trop tôt", **_files((PDF, "rapport.pdf"))})
    db.session.refresh(early)
    assert early.status == "pending" and not early.submissions
    with pytest.raises(WorkflowError, match="before the agreement is signed"):
        services.submit(early, [], note="x", by=world.users["partner"], expected_version=early.version)


def test_what_was_owed_is_released_when_the_agreement_ends(app, world, signed_in, due):
    """Closed (or expired, terminated, cancelled): what was still to hand in is waived with the reason, in
    the reader's language, so the partner no longer sees it due or overdue; a hand-in waiting for review
    stays to be reviewed. The history says so."""
    from app.workflow import engine

    mine, _ = due
    officer = world.users["officer"]
    three_days_ago = TODAY - timedelta(days=3)
    late = plan(world.agreement_a, officer, responsible=world.partner_a, first=three_days_ago, title="Retard")
    handed = plan(world.agreement_a, officer, responsible=world.partner_a, title="Remis").occurrences[0]
    db.session.commit()
    partner = signed_in("partner")
    assert _post(partner, handed, "submissions", {"note": "v1", **_files((PDF, "remis.pdf"))}).status_code == 303
    agreement = world.agreement_a
    engine.take(agreement, "close", by=officer, comment="Programme achevé", expected_version=agreement.version)
    db.session.commit()
    for occurrence in (mine, late.occurrences[0], handed):
        db.session.refresh(occurrence)
    assert mine.status == late.occurrences[0].status == "waived"
    assert handed.status == "submitted"
    portal = partner.get("/portal").get_data(as_text=True)
    assert "Retard" not in portal
    world.users["partner"].language = "fr"
    db.session.commit()
    page = signed_in("partner").get(f"/deliverables/{mine.id}").get_data(as_text=True)
    assert "accord a pris fin" in page  # the stored reason, in the reader's language
    row = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "deliverables_released", AuditEvent.object_id == agreement.id)
    )
    assert row is not None and row.changes["waived"] == 2


def test_agreements_that_ended_before_still_owing_are_released_by_the_hourly_job(app, world, due):
    from app.deliverables.services import release_owed_of_ended_agreements

    mine, theirs = due
    world.agreement_a.state = "terminated"  # as an import or an older version left it
    db.session.commit()
    assert release_owed_of_ended_agreements() == 1
    db.session.commit()
    db.session.refresh(mine), db.session.refresh(theirs)
    assert mine.status == "waived" and theirs.status == "pending"
    assert release_owed_of_ended_agreements() == 0  # once


def test_moving_a_line_keeps_its_periods_threads_and_what_was_accepted(app, world):
    """Moved by one day, a quarterly line had deleted every open period with the partner's messages, and
    brought back as overdue (and escalated) the quarters already handed in and accepted."""
    from app.discussions.services import post_message

    world.agreement_a.expires_on = date(2027, 7, 1)
    officer = world.users["officer"]
    line = plan(
        world.agreement_a, officer, responsible=world.partner_a, recurrence="quarterly", first=date(2026, 1, 12)
    )
    first, second, third = line.occurrences[:3]
    first.status = "accepted"
    asked = "Can we hand in on 5 January?"
    post_message(world.agreement_a, occurrence=second, audience="shared", body=asked, by=officer)
    db.session.commit()
    ids_before = sorted(o.id for o in line.occurrences)

    def moved_to(first_due_on, until_on=date(2027, 7, 1)):
        services.update_plan(
            line,
            services.PlanData(
                title_fr="Rapport",
                title_ar=None,
                title_en=None,
                description=None,
                responsible_organization_id=world.partner_a.id,
                recurrence="quarterly",
                first_due_on=first_due_on,
                until_on=until_on,
            ),
            by=officer,
        )
        db.session.commit()

    moved_to(date(2026, 1, 11))
    assert sorted(o.id for o in line.occurrences) == ids_before  # nothing removed, nothing added twice
    assert first.due_on == date(2026, 1, 12) and first.status == "accepted"  # stands for its quarter
    assert (second.due_on, third.due_on) == (date(2026, 4, 11), date(2026, 7, 11))  # open ones follow
    assert second.id in {m.occurrence_id for m in db.session.scalars(select(DiscussionMessage))}
    # Shortened: the open period with a thread is waived with the reason; the others are removed.
    moved_to(date(2026, 1, 11), until_on=date(2026, 5, 1))
    assert second.status == "pending" and second in line.occurrences
    moved_to(date(2026, 1, 11), until_on=date(2026, 2, 1))
    assert second.status == "waived" and "no longer has this period" in second.waived_reason
    assert {o.status for o in line.occurrences} == {"accepted", "waived"}
    history = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "deliverable_replanned").order_by(AuditEvent.id)
    ).all()
    assert history[0].changes["after"]["occurrences_moved"] and history[-1].changes["after"]["occurrences_dropped"]


def test_a_plan_line_saved_as_it_stands_says_nothing_in_the_history(world):
    """Saved again unchanged (an API PATCH of {}, a form sent as it was shown), a line wrote a row
    "changed: nothing" to the audit trail each time; any field changed is said, its description too."""
    officer = world.users["officer"]
    line = plan(world.agreement_a, officer, responsible=world.partner_a)
    db.session.commit()

    def saved(**changed):
        values = {name: getattr(line, name) for name in services.PLAN_FIELDS} | changed
        services.update_plan(line, services.PlanData(**values), by=officer)
        db.session.commit()
        return db.session.scalars(
            select(AuditEvent.changes).where(AuditEvent.action == "deliverable_replanned").order_by(AuditEvent.id)
        ).all()

    assert saved() == [] and saved() == []
    described = {"before": {"description": None}, "after": {"description": "Avec annexes"}}
    assert saved(description="Avec annexes") == [described]
    assert len(saved(description="Avec annexes")) == 1


def test_the_day_after_its_end_an_agreement_owes_no_reminder_before_it_is_ended(app, world):
    """The pass on the hour came before the date job at five past: partners were told "overdue" about
    items waived minutes later, when the agreement was ended."""
    from datetime import datetime, time

    from app.notifications import reminders

    officer = world.users["officer"]
    last_day = clock.today() - timedelta(days=1)
    world.agreement_a.expires_on = last_day
    plan(world.agreement_a, officer, responsible=world.partner_a, first=last_day)
    db.session.commit()
    now = datetime.combine(clock.today(), time(0, 1), tzinfo=clock.zone_named("Africa/Casablanca"))
    reference = world.agreement_a.reference
    about_a = [
        c
        for c in reminders.candidates_at(now)
        if c.rule.startswith("deliverable_") and c.notice.params.get("reference") == reference
    ]
    assert about_a == []
    world.agreement_a.expires_on = clock.today()  # still running today: reminded as before
    db.session.commit()
    assert any(
        c.rule == "deliverable_overdue" and c.notice.params.get("reference") == world.agreement_a.reference
        for c in reminders.candidates_at(now)
    )


@pytest.mark.parametrize(
    "recurrence, first, until, field",
    [
        ("once", date(2027, 9, 1), None, "first_due_on"),  # a final report after the end
        ("monthly", date(2027, 8, 1), date(2028, 1, 1), "first_due_on"),  # wholly after it
        ("yearly", date(2026, 7, 1), date(2199, 12, 31), "until_on"),  # running on past it
    ],
)
def test_a_line_is_not_planned_past_the_agreements_end(world, recurrence, first, until, field):
    """Dates after the end were accepted with an "until", then waived at the end before falling due."""
    world.agreement_a.expires_on = date(2027, 7, 1)
    data = services.PlanData(
        title_fr="Rapport",
        title_ar=None,
        title_en=None,
        description=None,
        responsible_organization_id=world.partner_a.id,
        recurrence=recurrence,
        first_due_on=first,
        until_on=until,
    )
    with pytest.raises(services.ValidationFailed) as refused:
        services.plan_deliverable(world.agreement_a, data, by=world.users["officer"])
    assert "after the agreement's end (July 1, 2027)" in refused.value.field_errors[field][0]


def test_a_hand_in_past_the_request_limit_comes_back_to_its_page(app, world, signed_in, due, monkeypatch):
    """It had ended on a dead-end page naming a limit of 26 MB the form never spoke of."""
    mine, _ = due
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 2048)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    page = f"http://localhost/deliverables/{mine.id}"
    client = signed_in("partner")
    response = _post(client, mine, "submissions", _files((PDF + b"0" * 8192, "gros.pdf")), headers={"Referer": page})
    assert response.status_code == 303 and response.headers["Location"] == page
    shown = client.get(f"/deliverables/{mine.id}").get_data(as_text=True)
    assert "These files come to more than the" in shown and "allowed in all" in shown
    db.session.refresh(mine)
    assert mine.status == "pending"


def test_a_refused_file_among_several_is_named(app, world, signed_in, due):
    """Of ten files in a hand-in, "this type of file is not accepted" had left the partner to guess which."""
    mine, _ = due
    partner = signed_in("partner")
    files = _files((PDF, "rapport.pdf"), (b"<html>x</html>", "annexe.pdf"))
    assert _post(partner, mine, "submissions", files).status_code == 303  # back to its page, saying why
    assert "annexe.pdf: This type of file is not accepted" in partner.get(f"/deliverables/{mine.id}").get_data(
        as_text=True
    )
    db.session.refresh(mine)
    assert mine.status == "pending"


def _reasons_of(page: str, move: str) -> str:
    """The reasons the agreement's page gives beside the unavailable `move`."""
    return page.split(f'id="action-{move}-reasons"', 1)[1].split("</ul>", 1)[0]


def test_the_page_says_which_line_keeps_the_agreement_from_being_marked_signed(world, signed_in):
    """A one-off planned on the draft for 1 January 2020 (no date yet to compare it with) was made 2,500 days
    overdue by signatures dated after it, and reminded. "Mark as signed" waits, and the page names the line
    and what to change, as it says what else a blocked move waits for."""
    from app.workflow import engine

    officer = world.users["officer"]
    agreement = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Signé hors Sharaka")
    plan(agreement, officer, responsible=world.partner_a, first=date(2020, 1, 1), title="Rapport de lancement")
    agreement.state, agreement.signed_on = "signature", TODAY - timedelta(days=17)  # as its signatures date it
    engine.settle_state(agreement)
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    reasons = _reasons_of(page, "record_signed")
    assert "Rapport de lancement" in reasons and "January 1, 2020" in reasons
    assert "move" in reasons and "first due date" in reasons


def test_a_past_first_due_date_on_a_draft_is_saved_with_a_warning(world, signed_in):
    """A draft has no date to compare a due date with, and an agreement signed before Sharaka may owe
    reports already past: the line is kept, and the officer is told now that it will stop the agreement
    being marked signed unless the signature comes first (a typed 2020 for 2027 had gone unseen)."""
    officer = signed_in("officer")
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="En discussion")
    db.session.commit()
    url = f"/agreements/{draft.id}/deliverables/new"

    def planned(first_due_on):
        data = {
            "title_fr": "Rapport",
            "responsible_organization_id": str(world.partner_a.id),
            "recurrence": "once",
            "first_due_on": first_due_on.isoformat(),
        }
        return officer.post(url, data=data, follow_redirects=True).get_data(as_text=True)

    page = planned(TODAY - timedelta(days=1))
    assert "The deliverables plan is saved." in page and "already past" in page
    assert "already past" not in planned(TODAY + timedelta(days=30))
    assert len(draft.deliverables) == 2


def test_a_drafts_recurring_line_shows_its_first_due_date_not_its_last(world, signed_in):
    """Nothing is owed on a draft, so no date was "to act on now": the panel fell back on the last one
    ("Rapport d'avancement — 31 December 2029") as if the line ended there. It shows the next (the first),
    as an agreement in force shows its next; the others are behind "Show all"."""
    officer = world.users["officer"]
    draft = factories.agreement(
        by=officer, partners=[world.partner_a], title_fr="Pilote", expires_on=date(2029, 12, 31)
    )
    line = plan(
        draft, officer, responsible=world.partner_a, recurrence="quarterly", first=date(2027, 3, 31), title="Avancement"
    )
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{draft.id}").get_data(as_text=True)
    shown = page.split(f'data-deliverable="{line.id}"', 1)[1].split("<details", 1)[0]
    first, last = line.occurrences[0], line.occurrences[-1]
    assert f'data-occurrence="{first.id}"' in shown and f'data-occurrence="{last.id}"' not in shown


def test_a_line_entered_by_mistake_is_removed_from_the_plan(world, signed_in):
    """A line could be changed but not removed, even on a draft: the partner would have owed it. Its owner or
    a manager removes it (after the browser's "are you sure?"), with its due dates; the history says so.
    Others are refused, and so is a line something was handed in for, or written about: those stay."""
    from app.discussions.services import post_message
    from app.indicators.services import IndicatorData, add_indicator

    officer = world.users["officer"]
    draft = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Brouillon")
    mistaken = plan(draft, officer, responsible=world.partner_a, title="Saisi par erreur")
    measured = IndicatorData(
        name_ar=None, name_fr="Ateliers", name_en=None, unit=None, baseline="0", target="4", target_scope="term"
    )
    add_indicator(mistaken, measured, by=officer)  # goes with it
    db.session.commit()
    due_dates = [o.id for o in mistaken.occurrences]
    url = f"/agreements/{draft.id}/deliverables/{mistaken.id}/delete"
    page = signed_in("officer").get(f"/agreements/{draft.id}").get_data(as_text=True)
    form = page.split(f'action="{url}"', 1)[1].split("</form>", 1)[0]
    assert "data-confirm=" in page.split(f'action="{url}"', 1)[1].split(">", 1)[0] and "Remove" in form
    assert f'action="{url}"' not in signed_in("auditor").get(f"/agreements/{draft.id}").get_data(as_text=True)
    assert signed_in("other_officer").post(url, csrf_from=f"/agreements/{draft.id}").status_code == 403
    assert signed_in("partner").post(url, csrf_from="/portal").status_code == 404
    removed = signed_in("officer").post(url, csrf_from=f"/agreements/{draft.id}", follow_redirects=True)
    assert "removed from the plan" in removed.get_data(as_text=True)
    db.session.expire_all()
    assert draft.deliverables == []
    assert db.session.scalars(select(services.Occurrence).where(services.Occurrence.id.in_(due_dates))).all() == []
    trail = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "deliverable_removed")).all()
    assert [(row.object_id, row.changes["title"]) for row in trail] == [(draft.id, "Saisi par erreur")]

    # Handed in, or written about: it stays, and the page says why.
    handed_in = plan(world.agreement_a, officer, responsible=world.partner_a, title="Remis")
    written = plan(world.agreement_a, officer, responsible=world.partner_a, title="Discuté")
    db.session.commit()
    handing_in = _post(signed_in("partner"), handed_in.occurrences[0], "submissions", _files((PDF, "r.pdf")))
    assert handing_in.status_code == 303
    post_message(world.agreement_a, occurrence=written.occurrences[0], audience="shared", body="Quand ?", by=officer)
    db.session.commit()
    for line, why in ((handed_in, "was handed in"), (written, "written about")):
        url = f"/agreements/{world.agreement_a.id}/deliverables/{line.id}/delete"
        answer = signed_in("officer").post(url, csrf_from=f"/agreements/{world.agreement_a.id}", follow_redirects=True)
        assert why in answer.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.get(services.Deliverable, line.id) is not None


def test_ministry_staff_who_cannot_review_a_hand_in_are_told_who_can(world, signed_in):
    """Another officer, or the legal adviser, reading a report handed in on an agreement they do not own is
    told who reviews it (its owner, by name, and the roles that review every hand-in), not only that "the
    ministry" will; the partner reads the short sentence, and whoever may review has the form."""
    from tests.integration.test_api import PDF, plan, upload

    owner = world.users["officer"]
    occurrence = plan(world.agreement_a, world.partner_a, owner)
    partner = world.users["partner"]
    services.submit(occurrence, [upload(PDF)], note=None, by=partner, expected_version=occurrence.version)
    db.session.commit()
    url = f"/deliverables/{occurrence.id}"

    for role in ("other_officer", "legal"):
        page = signed_in(role).get(url).get_data(as_text=True)
        assert "Handed in. The ministry will review it." in page
        told = re.search(r"Who may review it: (.*?)</div>", page, re.S)
        assert told, role
        assert owner.full_name in told.group(1) and "the agreement’s owner" in told.group(1)
        assert "Manager (approver)" in told.group(1) and "Administrator" in told.group(1)
    partner_page = signed_in("partner").get(url).get_data(as_text=True)
    assert "Handed in. The ministry will review it." in partner_page and "Who may review it" not in partner_page
    owner_page = signed_in("officer").get(url).get_data(as_text=True)
    assert 'id="review-heading"' in owner_page and "Who may review it" not in owner_page
