"""The words of every notice: one place turns (kind, params) into a headline and a
sentence in the current language, for the bell, the notifications page and the
e-mail subject alike.

Params hold plain values only (they are stored as JSON): multilingual texts as
{"ar": ..., "fr": ..., "en": ...} dicts, dates as ISO strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from flask_babel import force_locale, format_date, format_number

from app.core import clock, i18n, stored_texts
from app.core.audit_chain import problem_said
from app.core.dates import first_of_month_in_french
from app.core.i18n import (
    FALLBACK_ORDER,
    current_language,
    isolate,
    ngettext,
    reader_locale,
    reader_translations,
)
from app.core.i18n import gettext as _
from app.core.text import mentions_isolated


@dataclass(frozen=True)
class Words:
    """One language's catalogue, found once. `_` and `ngettext` find the current locale and its
    catalogue again on every call (a third of a reminder pass's subjects); a pass writing thousands of
    subjects in a few languages asks `written_in` once per language and hands the words to `headline`.
    Formatting as flask_babel's: `%` with the variables, `num` among them for plurals."""

    language: str
    catalogue: Any
    locale: str  # str(reader_locale()): the key of the dates written in it (_long_date)

    def gettext(self, string: str, **variables) -> str:
        text = self.catalogue.ugettext(string)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, num: int, **variables) -> str:
        variables.setdefault("num", num)
        return self.catalogue.ungettext(singular, plural, num) % variables


def written_in(language: str) -> Words:
    """The words of `language`, as `_` finds them inside force_locale(language)."""
    with force_locale(language):
        return Words(current_language(), reader_translations(), str(reader_locale()))


def pick(texts, language: str | None = None) -> str:
    """One text out of an {ar, fr, en} dict, falling back as the pages do."""
    if not isinstance(texts, dict):
        return str(texts or "")
    for lang in FALLBACK_ORDER.get(language or current_language(), ("fr", "en", "ar")):
        if texts.get(lang):
            return str(texts[lang])
    return ""


def _date(value, locale: str | None = None) -> str:
    """An ISO date written long in the current locale (`locale`: its name, when the caller has it)."""
    if not isinstance(value, str):
        return str(value or "")
    return _long_date(value, locale or str(reader_locale()))


@lru_cache(maxsize=4096)
def _long_date(value: str, locale: str) -> str:
    """An ISO date written long in `locale` (the current one: the key, not an argument babel reads). A
    reminder pass writes thousands of subjects over a few hundred due dates; writing each date was a
    third of their cost."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return first_of_month_in_french(format_date(day, format="long"), day, current_language())


def _moment(value) -> str:
    """An ISO moment (stored in a notice's params) as the pages write one, in the current locale."""
    from datetime import datetime

    from app.core.dates import format_moment

    try:
        return format_moment(datetime.fromisoformat(value))
    except (TypeError, ValueError):
        return str(value or "")


# Mail about one occurrence of a deliverable, whose subject names its due date (the digest's and the
# "due in N days" reminders say when in their own words).
DATED_ITEMS = frozenset(
    {
        "deliverable_overdue",
        "deliverable_escalated",
        "deliverable_submitted",
        "deliverable_accepted",
        "deliverable_sent_back",
        "deliverable_waived",
    }
)


def headline(kind: str, params: dict, words: Words | None = None) -> str:
    """A one-line summary: the bell, the notifications page, the e-mail subject. `words`: the current
    language's (written_in), when the caller writes many; the dates of a digest's subject still follow
    the current locale, so the caller switches to that language too."""
    # The names `_` and `ngettext` kept, so the catalogue's extraction still finds these messages.
    _ = words.gettext if words else i18n.gettext
    ngettext = words.ngettext if words else i18n.ngettext
    language = words.language if words else current_language()  # asked once: a pass writes thousands
    locale = words.locale if words else None
    ref = isolate(params.get("reference", ""), language)
    title = isolate(pick(params.get("title"), language), language)
    item = isolate(pick(params.get("deliverable"), language), language)
    if kind in DATED_ITEMS and params.get("due_on"):
        # A recurring report's quarters had the same subject: "Sent back: Quarterly report" twice.
        item = _("%(item)s due %(date)s", item=item, date=_date(params["due_on"], locale))
    days = params.get("days", 0)
    if kind == "approval_requested":
        # Asked again after a send-back, it says so first: the second request had the first one's subject.
        again = bool(params.get("resubmitted"))
        if params.get("steps"):  # one approver asked at two steps got two alike subjects
            step = {"ref": ref, "title": title, "number": params["step"], "total": params["steps"]}
            if again:
                return _(
                    "Resubmitted: your approval is asked for %(ref)s — %(title)s (step %(number)s of %(total)s)", **step
                )
            return _("Your approval is asked for %(ref)s — %(title)s (step %(number)s of %(total)s)", **step)
        if again:
            return _("Resubmitted: your approval is asked for %(ref)s — %(title)s", ref=ref, title=title)
        return _("Your approval is asked for %(ref)s — %(title)s", ref=ref, title=title)
    if kind == "password_reset":
        return _("Choose a new Sharaka password")
    if kind == "export_failed":
        return _("Your spreadsheet could not be written")
    if kind == "export_ready":
        return ngettext(
            "Your spreadsheet is ready (%(num)s row)",
            "Your spreadsheet is ready (%(num)s rows)",
            params.get("rows") or 0,
        )
    if kind == "password_reset_directory":
        return _("Your Sharaka password is your ministry directory password")
    if kind == "email_changed":
        return _("Your Sharaka sign-in address was changed")
    if kind == "email_change_confirm":
        return _("Confirm your new Sharaka sign-in address")
    if kind == "email_change_asked":
        return _("A new Sharaka sign-in address was asked for")
    if kind == "role_changed":
        if params.get("role"):
            from app.core.permissions import ROLES

            return _("Your Sharaka role is now %(role)s", role=str(ROLES.get(params["role"], params["role"])))
        if params.get("org_admin"):
            return _("You are now your organisation's admin in Sharaka")
        return _("You are no longer your organisation's admin in Sharaka")
    if kind == "api_token_ending":
        return _(
            "Your API token “%(name)s” stops working on %(moment)s",
            name=isolate(params.get("name", ""), language),
            moment=_moment(params.get("ends_at")),
        )
    if kind == "invitation":
        return _("You are invited to Sharaka")
    if kind == "job_failed":
        return _(
            "Job %(job)s could not handle %(ref)s; the others went on", job=isolate(params.get("job", "")), ref=ref
        )
    if kind == "audit_anchor":
        if params.get("intact"):
            rows = params.get("seq", 0)
            return ngettext("Audit trail anchor: %(num)s row, intact", "Audit trail anchor: %(num)s rows, intact", rows)
        return _("Audit trail anchor: the trail is broken")
    if kind == "approval_overdue":
        return ngettext(
            "Approval of %(ref)s waiting for %(num)s day", "Approval of %(ref)s waiting for %(num)s days", days, ref=ref
        )
    if kind == "approval_escalated":
        return ngettext(
            "Escalation: approval of %(ref)s waiting for %(num)s day",
            "Escalation: approval of %(ref)s waiting for %(num)s days",
            days,
            ref=ref,
        )
    if kind == "approval_decided":
        if params.get("decision") == "approve":
            return _("%(ref)s: approved by %(name)s", ref=ref, name=isolate(params.get("by", "")))
        return _("%(ref)s: sent back by %(name)s", ref=ref, name=isolate(params.get("by", "")))
    if kind == "agreement_moved":
        state, who = isolate(pick(params.get("state"))), isolate(params.get("by") or "")
        if params.get("decision") == "approve":
            return _("%(ref)s approved by %(name)s: now at the stage “%(state)s”", ref=ref, name=who, state=state)
        if params.get("decision") == "reject":
            return _("%(ref)s sent back by %(name)s: now at the stage “%(state)s”", ref=ref, name=who, state=state)
        return _("%(ref)s is now at the stage “%(state)s”", ref=ref, state=state)
    if kind == "agreement_ending":
        return ngettext("%(ref)s ends in %(num)s day", "%(ref)s ends in %(num)s days", days, ref=ref)
    if kind == "agreement_renewed":
        return _("%(ref)s renewed by itself until %(date)s", ref=ref, date=_date(params.get("expires_on"), locale))
    if kind == "non_renewal_recorded":
        return _("%(ref)s will not be renewed: notice given", ref=ref)
    if kind == "non_renewal_withdrawn":
        return _("%(ref)s: the notice of non-renewal is withdrawn", ref=ref)
    if kind == "version_sent":
        return _("%(ref)s: version %(number)s of the text to answer", ref=ref, number=params.get("number", ""))
    if kind == "notice_deadline":
        if days == 0:
            return _("%(ref)s: the notice deadline of non-renewal is today", ref=ref)
        return ngettext(
            "%(ref)s: notice deadline of non-renewal in %(num)s day",
            "%(ref)s: notice deadline of non-renewal in %(num)s days",
            days,
            ref=ref,
        )
    if kind == "agreement_stalled":
        return ngettext(
            "%(ref)s has been at the stage “%(state)s” for %(num)s day",
            "%(ref)s has been at the stage “%(state)s” for %(num)s days",
            days,
            ref=ref,
            state=isolate(pick(params.get("state"))),
        )
    if kind == "deliverable_due":
        if days <= 1:
            return (
                _("Due tomorrow: %(item)s (%(ref)s)", item=item, ref=ref)
                if days == 1
                else _("Due today: %(item)s (%(ref)s)", item=item, ref=ref)
            )
        return ngettext(
            "Due in %(num)s day: %(item)s (%(ref)s)",
            "Due in %(num)s days: %(item)s (%(ref)s)",
            days,
            item=item,
            ref=ref,
        )
    if kind == "deliverable_overdue":
        return ngettext(
            "Overdue by %(num)s day: %(item)s (%(ref)s)",
            "Overdue by %(num)s days: %(item)s (%(ref)s)",
            days,
            item=item,
            ref=ref,
        )
    if kind == "deliverable_escalated":
        return ngettext(
            "Escalation: %(item)s (%(ref)s) overdue by %(num)s day",
            "Escalation: %(item)s (%(ref)s) overdue by %(num)s days",
            days,
            item=item,
            ref=ref,
        )
    if kind == "deliverable_submitted":
        if (params.get("number") or 1) > 1:  # after a send-back: the reviewer knows it answers their word
            return _("Handed in again: %(item)s (%(ref)s)", item=item, ref=ref)
        return _("Handed in: %(item)s (%(ref)s)", item=item, ref=ref)
    if kind == "deliverable_accepted":
        return _("Accepted: %(item)s (%(ref)s)", item=item, ref=ref)
    if kind == "deliverable_sent_back":
        return _("Sent back for changes: %(item)s (%(ref)s)", item=item, ref=ref)
    if kind == "deliverable_waived":
        return _("Waived: %(item)s (%(ref)s)", item=item, ref=ref)
    if kind in ("discussion_mention", "discussion_message"):
        name = isolate(params.get("by", ""), language)
        if params.get("by_organization"):
            who = {"name": name, "organization": isolate(pick(params["by_organization"], language), language)}
            if kind == "discussion_mention":
                return _("%(name)s (%(organization)s) mentioned you about %(ref)s", ref=ref, **who)
            return _("%(name)s (%(organization)s) wrote about %(ref)s", ref=ref, **who)
        if kind == "discussion_mention":
            return _("%(name)s mentioned you about %(ref)s", name=name, ref=ref)
        return _("%(name)s wrote about %(ref)s", name=name, ref=ref)
    if kind == "weekly_digest":
        return _("Sharaka weekly digest — week of %(date)s", date=_date(params.get("week_of"), locale))
    return _("Notification")


class _Grouped(int):
    """A count that a message writes with the reader's digit grouping ("6,548", "6 548"), as the pages'
    `numberformat` does, and that still chooses the plural form as a number."""

    def __new__(cls, value) -> _Grouped:
        return super().__new__(cls, value or 0)

    def __str__(self) -> str:
        return format_number(int(self))


def _resubmitted(again: dict) -> list[str]:
    """What a request asked again after a send-back says of it: the send-back and its reason, and the
    submitter's comment as they sent it again (app.workflow.asked_again)."""
    sent_back = {"name": isolate(again.get("sent_back_by") or "—"), "date": _date(again.get("sent_back_on"))}
    if again.get("reason"):
        said = [_("%(name)s sent it back on %(date)s: “%(reason)s”.", reason=isolate(again["reason"]), **sent_back)]
    else:
        said = [_("%(name)s sent it back on %(date)s.", **sent_back)]
    who = isolate(again.get("by") or "—")
    if again.get("comment"):
        said.append(
            _(
                "%(name)s resubmitted it with this comment: “%(comment)s”.",
                name=who,
                comment=isolate(stored_texts.shown(again["comment"]) or ""),
            )
        )
    else:
        said.append(_("%(name)s resubmitted it without a comment.", name=who))
    return said


def detail(kind: str, params: dict) -> str:
    """The sentence under the headline: what it is about and what to do; and, about a deliverable the demo
    data invented, that it is (the mail is read away from the pages that mark it)."""
    said = _detail(kind, params)
    if params.get("illustrative"):
        return " ".join((said, _("Illustrative demo data: this deliverable and its dates are invented.")))
    return said


def _detail(kind: str, params: dict) -> str:
    title = isolate(pick(params.get("title")))
    item = isolate(pick(params.get("deliverable")))
    due = _date(params.get("due_on"))
    if kind == "approval_requested":
        step = isolate(pick(params.get("transition")))
        if params.get("steps"):
            step = _("%(move)s, step %(number)s of %(total)s", move=step, number=params["step"], total=params["steps"])
        asked = _(
            "“%(title)s” is waiting for your decision (%(step)s). Open it to approve or send it back.",
            title=title,
            step=step,
        )
        if params.get("handed_by"):  # a manager handed someone's late approval to the reader
            asked = " ".join(
                (
                    _(
                        "%(manager)s handed you the approval of %(name)s, until %(date)s.",
                        manager=isolate(params["handed_by"]),
                        name=isolate(params.get("handed_for", "")),
                        date=_date(params.get("until")),
                    ),
                    asked,
                )
            )
        if isinstance(params.get("resubmitted"), dict):
            asked = " ".join((asked, *_resubmitted(params["resubmitted"])))
        if not params.get("decide_by"):
            return asked
        if params["decide_by"] < clock.today().isoformat():
            # Handed over (or asked again) after its deadline: "please decide by" a day three weeks gone
            # read as a mistake. It says since when the step is late instead.
            deadline = ngettext(
                "This step is late since %(date)s (it had %(num)s day): please decide as soon as you can.",
                "This step is late since %(date)s (it had %(num)s days): please decide as soon as you can.",
                params.get("sla") or 0,
                date=_date(params.get("decide_by")),
            )
        else:
            deadline = ngettext(
                "Please decide by %(date)s (this step has %(num)s day).",
                "Please decide by %(date)s (this step has %(num)s days).",
                params.get("sla") or 0,
                date=_date(params.get("decide_by")),
            )
        return f"{asked} {deadline}"
    if kind in ("approval_overdue", "approval_escalated"):
        deadline = ngettext(
            "The deadline for this step is %(num)s day.",
            "The deadline for this step is %(num)s days.",
            params.get("sla") or 0,
        )
        if kind == "approval_overdue" and params.get("since"):
            # Its reader is the approver: asked, since when, and where to decide (the links under it).
            asked = ngettext(
                "You have been asked to approve “%(title)s”, waiting since %(date)s (%(num)s day).",
                "You have been asked to approve “%(title)s”, waiting since %(date)s (%(num)s days).",
                params.get("days") or 0,
                title=title,
                date=_date(params["since"]),
            )
            said = [asked, deadline, _("Open its approvals to approve it or send it back.")]
        else:
            waited = ngettext(
                "“%(title)s” has waited %(num)s day for approval.",
                "“%(title)s” has waited %(num)s days for approval.",
                params.get("days") or 0,
                title=title,
            )
            said = [waited, deadline, _("Still to decide: %(waiting)s.", waiting=isolate(params.get("waiting") or "—"))]
        if params.get("reminded_by"):
            said.append(_("%(name)s sent you this reminder.", name=isolate(params["reminded_by"])))
        if kind == "approval_escalated" and params.get("may_reassign"):
            said.append(
                _(
                    "From your dashboard you can “Send a reminder” to them, or “Reassign / delegate” the approval "
                    "to a colleague."
                )
                if params.get("may_remind")
                else _("You can “Reassign / delegate” the approval to a colleague.")
            )
        elif kind == "approval_escalated" and params.get("may_remind"):
            said.append(_("From your dashboard you can “Send a reminder” to them."))
        return " ".join(said)
    if kind == "approval_decided":
        who = isolate(params.get("by") or "")
        if params.get("decision") == "approve":
            decided = _("%(name)s approved “%(title)s”.", name=who, title=title)
        else:
            decided = _("%(name)s sent back “%(title)s”.", name=who, title=title)
        if not params.get("comment"):  # a decision without a word: no empty "Comment: —" line
            return decided
        return " ".join((decided, _("Comment: %(comment)s", comment=isolate(params["comment"]))))
    if kind == "agreement_moved":
        automatically = _("automatically")  # its own call, so the extractor sees it
        moved = _(
            "“%(title)s” moved from “%(before)s” to “%(after)s” (%(name)s).",
            title=title,
            before=isolate(pick(params.get("previous"))),
            after=isolate(pick(params.get("state"))),
            name=isolate(params.get("by") or automatically),
        )
        if params.get("decision") and params.get("comment"):  # a decision's words: why it was sent back
            moved = " ".join((moved, _("Comment: %(comment)s", comment=isolate(params["comment"]))))
        if params.get("amended_terms"):  # an amendment in force: what it changed
            from app.agreements.amendments import term_label

            moved = " ".join(
                (moved, _("It changes: %(terms)s.", terms=i18n.list_of(term_label(t) for t in params["amended_terms"])))
            )
            if params.get("new_end"):
                moved = " ".join((moved, _("The agreement now ends on %(date)s.", date=_date(params["new_end"]))))
        return moved
    if kind == "version_sent":
        return _(
            "%(name)s sent version %(number)s of the text of “%(title)s”. Read it, then accept it or answer "
            "with another version.",
            name=isolate(params.get("by") or "—"),
            number=params.get("number", ""),
            title=title,
        )
    if kind == "agreement_renewed":
        renewed = ngettext(
            "“%(title)s” renewed by itself for %(num)s month, as its terms say: it now ends on %(date)s.",
            "“%(title)s” renewed by itself for %(num)s months, as its terms say: it now ends on %(date)s.",
            params.get("months") or 0,
            title=title,
            date=_date(params.get("expires_on")),
        )
        if not params.get("notice_deadline"):
            return renewed
        return " ".join(
            [
                renewed,
                _(
                    "To stop the next renewal, give notice of non-renewal by %(deadline)s.",
                    deadline=_date(params["notice_deadline"]),
                ),
            ]
        )
    if kind == "non_renewal_recorded":
        giver = pick(params.get("giver")) if params.get("giver") else _("the ministry")
        given = _(
            "%(party)s gave notice on %(given)s that “%(title)s” will not be renewed.",
            party=isolate(giver),
            given=_date(params.get("given_on")),
            title=title,
        )
        if not params.get("expires_on"):
            return given
        return " ".join([given, _("It ends on %(date)s.", date=_date(params.get("expires_on")))])
    if kind == "non_renewal_withdrawn":
        withdrawn = _(
            "%(name)s withdrew the notice of non-renewal of “%(title)s”. The reason given: %(reason)s",
            name=isolate(params.get("by") or ""),
            title=title,
            reason=isolate(params.get("reason") or ""),
        )
        if not params.get("renews_on"):
            return withdrawn
        renews = _("The agreement renews by itself on %(date)s.", date=_date(params.get("renews_on")))
        return " ".join([withdrawn, renews])
    if kind == "agreement_ending":
        if params.get("non_renewal_on"):
            return _(
                "“%(title)s” expires on %(date)s: notice of non-renewal was given on %(given)s. Prepare its "
                "ending (the last reports, what is handed over).",
                title=title,
                date=_date(params.get("expires_on")),
                given=_date(params.get("non_renewal_on")),
            )
        return _(
            "“%(title)s” expires on %(date)s. Decide whether to renew it, amend it or let it end.",
            title=title,
            date=_date(params.get("expires_on")),
        )
    if kind == "notice_deadline":
        if params.get("renewal_terms") == "tacit":
            return _(
                "“%(title)s” renews itself on %(end)s unless notice is given by %(date)s. Record a notice of "
                "non-renewal if it should end.",
                title=title,
                end=_date(params.get("expires_on")),
                date=_date(params.get("notice_deadline")),
            )
        return _(
            "“%(title)s” ends on %(end)s; notice about its renewal is due by %(date)s. Start a renewal "
            "agreement or give notice.",
            title=title,
            end=_date(params.get("expires_on")),
            date=_date(params.get("notice_deadline")),
        )
    if kind == "agreement_stalled":
        # The subject counts the days in the stage; the body says so too, and then, when something changed
        # since it began, how long ago (it had said "no change for 8 days" under "at this stage for 54 days").
        in_stage, idle_days = params.get("days") or 0, params.get("idle", params.get("days")) or 0
        idle = ngettext(
            "“%(title)s” has been at this stage for %(num)s day.",
            "“%(title)s” has been at this stage for %(num)s days.",
            in_stage,
            title=title,
        )
        if idle_days < in_stage:
            idle += " " + ngettext(
                "Its last change was %(num)s day ago.", "Its last change was %(num)s days ago.", idle_days
            )
        limit = ngettext(
            "This stage should take at most %(num)s day.",
            "This stage should take at most %(num)s days.",
            params.get("sla") or 0,
        )
        return f"{idle} {limit}"
    if kind == "deliverable_due":
        return _("“%(item)s” under “%(title)s” is due on %(date)s.", item=item, title=title, date=due)
    if kind in ("deliverable_overdue", "deliverable_escalated"):
        org = isolate(pick(params.get("responsible")))
        if params.get("sent_back"):
            said = _(
                "“%(item)s” under “%(title)s” was due on %(date)s. It was handed in and sent back for changes; "
                "the corrected version has not come yet. Owed by %(org)s. What to fix: %(feedback)s",
                item=item,
                title=title,
                date=due,
                org=org,
                feedback=isolate(params.get("feedback") or "—"),
            )
        else:
            said = _(
                "“%(item)s” under “%(title)s” was due on %(date)s and has not been handed in. Owed by %(org)s.",
                item=item,
                title=title,
                date=due,
                org=org,
            )
        if params.get("missed"):
            missed = i18n.list_of(_date(day) for day in params["missed"])
            said = " ".join((said, _("Missed due dates so far: %(dates)s.", dates=missed)))
        return said
    if kind == "deliverable_submitted":
        handed_in = {"org": isolate(pick(params.get("responsible"))), "item": item, "date": due}
        if (params.get("number") or 1) > 1:
            return _(
                "%(org)s handed in “%(item)s” again (hand-in %(number)s, due on %(date)s). "
                "It is waiting for your review.",
                number=params["number"],
                **handed_in,
            )
        return _("%(org)s handed in “%(item)s” (due on %(date)s). It is waiting for your review.", **handed_in)
    if kind == "deliverable_accepted":
        accepted = _("“%(item)s” due on %(date)s was accepted.", item=item, date=due)
        if params.get("comment"):  # the reviewer's words, as a send-back's and a waiver's are given
            return " ".join((accepted, _("Comment: %(comment)s", comment=isolate(params["comment"]))))
        return accepted
    if kind == "deliverable_sent_back":
        return _(
            "“%(item)s” due on %(date)s was sent back. Feedback: %(feedback)s",
            item=item,
            date=due,
            feedback=isolate(params.get("comment") or "—"),
        )
    if kind == "deliverable_waived":
        return _(
            "“%(item)s” due on %(date)s no longer has to be handed in. Reason: %(reason)s",
            item=item,
            date=due,
            reason=isolate(params.get("comment") or "—"),
        )
    if kind == "export_failed":
        return _("Open it to read why, then ask again.")
    if kind == "export_ready":
        hours = params.get("hours")
        if not hours:  # a notice written before it said
            return _("Open it to download the spreadsheet. It stays available for a few days.")
        return ngettext(
            "Open it to download the spreadsheet. It stays available for %(num)s hour.",
            "Open it to download the spreadsheet. It stays available for %(num)s hours.",
            hours,
        )
    if kind == "invitation":
        from app.auth.models import ROLES

        organization = pick(params.get("organization"))
        role = str(ROLES.get(params.get("role"), params.get("role") or ""))
        text = _(
            "%(name)s invites you to Sharaka, the ministry's partnership system, as %(role)s.",
            name=isolate(params.get("inviter") or ""),
            role=role,
        )
        if organization:
            text += " " + _("Organisation: %(org)s.", org=isolate(organization))
        return (
            text
            + " "
            + ngettext(
                "Open the link within %(num)s day to choose your name and password; it works once.",
                "Open the link within %(num)s days to choose your name and password; it works once.",
                params.get("days") or 7,
            )
        )
    # The two addresses of a change of sign-in address, told (email_changed) or asked for (email_change_*).
    addresses = {"new": isolate(params.get("new", "")), "old": isolate(params.get("old", ""))}
    if kind == "email_changed":
        return _(
            "From now on you sign in to Sharaka with %(new)s, and its mail goes there (it was %(old)s). If you "
            "did not ask for this, tell the ministry's Sharaka administrator at once.",
            **addresses,
        )
    if kind == "email_change_confirm":
        return ngettext(
            "Someone (you, we hope) asked to sign in to Sharaka with %(new)s instead of %(old)s. Open the link "
            "within %(num)s hour to confirm it; it works once. If it was not you, ignore this message: nothing "
            "changes.",
            "Someone (you, we hope) asked to sign in to Sharaka with %(new)s instead of %(old)s. Open the link "
            "within %(num)s hours to confirm it; it works once. If it was not you, ignore this message: nothing "
            "changes.",
            params.get("hours") or 24,
            **addresses,
        )
    if kind == "email_change_asked":
        return _(
            "Someone signed in to your Sharaka account asked to sign in with %(new)s from now on. Nothing changes "
            "until the link sent to that address is followed. If it was not you, cancel the change on your "
            "account's page and change your password.",
            new=addresses["new"],
        )
    if kind == "role_changed":
        return role_change_said(params)
    if kind == "api_token_ending":
        return _(
            "Make a new token on your tokens page, put it where “%(name)s” (%(prefix)s…) is used, then revoke "
            "this one. From %(moment)s, calls with it are refused.",
            name=isolate(params.get("name", "")),
            prefix=isolate(params.get("prefix", "")),
            moment=_moment(params.get("ends_at")),
        )
    if kind == "password_reset_directory":
        text = _(
            "Someone (you, we hope) asked to reset your Sharaka password. You sign in to Sharaka with your "
            "ministry directory (Windows) account, so Sharaka cannot change that password: follow the "
            "ministry's procedure."
        )
        if params.get("help"):
            text += " " + str(params["help"])
        return text
    if kind == "password_reset":
        return ngettext(
            "Someone (you, we hope) asked to reset your password. Open the link within %(num)s minute "
            "to choose a new one; it works once. If it was not you, ignore this message: your password "
            "stays as it is.",
            "Someone (you, we hope) asked to reset your password. Open the link within %(num)s minutes "
            "to choose a new one; it works once. If it was not you, ignore this message: your password "
            "stays as it is.",
            params.get("minutes") or 30,
        )
    if kind == "job_failed":
        return _(
            "Step %(step)s failed: %(error)s. It was rolled back alone and is tried again at the next run; "
            "correct the agreement or tell the developers.",
            step=isolate(params.get("step", "")),
            error=isolate(params.get("error") or "—"),
        )
    if kind == "audit_anchor":
        anchor = isolate(f"{params.get('seq', 0)}:{params.get('hash', '')}")
        kept = _("Keep this message: it proves the trail as it stands today. Anchor: %(anchor)s", anchor=anchor)
        if params.get("intact"):
            return kept
        problem = params.get("problem")
        if isinstance(problem, dict):  # since 7 December; an older notice kept the English text
            problem = problem_said(str(problem.get("kind")), dict(problem.get("params") or {}))
        return " ".join((_("First broken link: %(problem)s", problem=isolate(problem or "—")), kept))
    if kind in ("discussion_mention", "discussion_message"):
        return _(
            "“%(title)s”: %(excerpt)s",
            title=item or title,
            excerpt=isolate(mentions_isolated(params.get("excerpt") or "")),
        )
    if kind == "weekly_digest":
        counted = [
            ngettext(
                "%(num)s approval waiting,", "%(num)s approvals waiting,", _Grouped(params.get("approvals_count"))
            ),
            ngettext(
                "%(num)s overdue deliverable,",
                "%(num)s overdue deliverables,",
                _Grouped(params.get("overdue_count")),
            ),
        ]
        if "review_count" in params:  # a digest written before it counted them: its body does not list them
            counted.append(
                ngettext(
                    "%(num)s hand-in waiting for review,",
                    "%(num)s hand-ins waiting for review,",
                    _Grouped(params["review_count"]),
                )
            )
        counted.append(
            ngettext(
                "%(num)s agreement ending within 90 days.",
                "%(num)s agreements ending within 90 days.",
                _Grouped(params.get("ending_count")),
            )
        )
        return " ".join(counted)
    return ""


def role_change_said(params: dict) -> str:
    """What changed of an account's role (auth.services.tell_role_changed), by whom, and what it may do now."""
    from app.core.permissions import ROLE_POWERS, ROLES

    name, said = isolate(params.get("by") or "—"), []
    if params.get("role"):
        said.append(
            _(
                "%(name)s changed your role from %(before)s to %(after)s.",
                name=name,
                before=str(ROLES.get(params.get("role_before"), params.get("role_before") or "—")),
                after=str(ROLES.get(params["role"], params["role"])),
            )
        )
        if params["role"] in ROLE_POWERS:
            said.append(str(ROLE_POWERS[params["role"]]))
    if params.get("org_admin") is True:
        said.append(
            _(
                "%(name)s made you your organisation's admin: you can now invite colleagues, change their sign-in "
                "addresses, deactivate their accounts and choose which deliverables they see.",
                name=name,
            )
        )
    elif params.get("org_admin") is False:
        said.append(
            _(
                "%(name)s removed you as your organisation's admin: you can no longer invite colleagues or manage "
                "their accounts.",
                name=name,
            )
        )
    return " ".join(said)
