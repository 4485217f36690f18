"""The top bar's main menu: its sections, who sees each, and its HTML drawn once per process for
each language, set of sections shown and section open, rather than on every page.

Drawing it in the page cost every signed-in page about forty template calls (a `can()`, a `url_for()`
and a translation per section, a macro per section to find the open one): the largest fixed part of
a cheap page. The key holds everything the HTML depends on, and its permission part is asked of
app/core/permissions.py on every request, so a role change or another language shows at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.core.bounded import BoundedCache
from app.core.permissions import can, is_partner


@dataclass(frozen=True)
class Section:
    """One entry of the menu: open while the page is one of `endpoints`, or any page of `blueprint`."""

    endpoint: str
    icon: str
    label: Any  # a lazy translation, drawn in the reader's language
    allowed: Callable[[Any], bool]
    endpoints: tuple[str, ...] = ()
    blueprint: str | None = None

    def is_open(self, endpoint: str | None, blueprint: str | None) -> bool:
        if self.blueprint is not None:
            return blueprint == self.blueprint
        return endpoint in self.endpoints


def _ministry_may(action: str) -> Callable[[Any], bool]:
    return lambda user: not is_partner(user) and can(user, action)


def _may(action: str) -> Callable[[Any], bool]:
    return lambda user: can(user, action)


# Partners get their own short menu: their portal (which lists what waits on them) and their agreements.
SECTIONS = (
    Section(
        "dashboards.home", "bi-speedometer2", _l("Dashboard"), _ministry_may("dashboard.view"), ("dashboards.home",)
    ),
    Section(
        "deliverables.portal",
        "bi-house-door",
        _l("My portal"),
        lambda user: is_partner(user) and can(user, "portal.view"),
        ("deliverables.portal", "deliverables.view_occurrence"),
    ),
    Section("workflow.inbox", "bi-inbox", _l("My actions"), _may("inbox.view"), ("workflow.inbox",)),
    Section(
        "agreements.list_agreements",
        "bi-file-earmark-text",
        _l("Agreements"),
        _may("agreement.list"),
        blueprint="agreements",
    ),
    Section(
        "deliverables.list_deliverables",
        "bi-list-check",
        _l("Deliverables"),
        _ministry_may("deliverable.list"),
        ("deliverables.list_deliverables", "deliverables.view_occurrence"),
    ),
    Section("portfolio.board", "bi-kanban", _l("Portfolio"), _ministry_may("portfolio.view"), blueprint="portfolio"),
)
# Reference pages and administration, gathered under "More" so the bar keeps to one line.
MORE_SECTIONS = (
    Section(
        "organizations.list_organizations",
        "bi-building",
        _l("Organisations"),
        _may("organization.list"),
        blueprint="organizations",
    ),
    Section("events.list_events", "bi-calendar-event", _l("Signing events"), _may("event.list"), blueprint="events"),
    Section("verify.verify_copy", "bi-patch-check", _l("Verify a copy"), _may("copy.verify"), blueprint="verify"),
    Section(
        "workflow.list_workflows",
        "bi-diagram-3",
        _l("Workflows"),
        _may("workflow.view"),
        ("workflow.list_workflows", "workflow.view_workflow"),
    ),
    Section("admin.list_users", "bi-people", _l("Users"), _may("user.list"), blueprint="admin"),
    Section(
        "notifications.list_outbox",
        "bi-envelope",
        _l("Outbox"),
        _may("outbox.view"),
        ("notifications.list_outbox", "notifications.view_outbox_message"),
    ),
    Section("audit.list_events", "bi-journal-text", _l("Audit trail"), _may("audit.list"), blueprint="audit"),
    Section("operations.list_jobs", "bi-clock-history", _l("Scheduled jobs"), _may("job.view"), blueprint="operations"),
)

# Drawn menus by key: a few hundred at most (languages x roles x open section).
_DRAWN = BoundedCache(1024)


def main_menu(user) -> Markup:
    """The menu `user` sees on this request's page (its sections, the open one marked)."""
    endpoint, blueprint = request.endpoint, request.blueprint
    marks = tuple((section.allowed(user), section.is_open(endpoint, blueprint)) for section in SECTIONS + MORE_SECTIONS)
    # The links are relative to where the app is mounted; the labels are in the reader's language.
    return _DRAWN.get((str(get_locale()), request.script_root, marks), lambda: _draw(marks))


def _draw(marks: tuple) -> Markup:
    shown = [(section, is_open) for section, (allowed, is_open) in zip(SECTIONS, marks) if allowed]
    more = [(section, is_open) for section, (allowed, is_open) in zip(MORE_SECTIONS, marks[len(SECTIONS) :]) if allowed]
    return Markup(current_app.jinja_env.get_template("_main_menu.html").render(sections=shown, more=more))
