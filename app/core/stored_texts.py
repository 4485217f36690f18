"""Fixed sentences the app itself writes into data (the demo's history notes and plan descriptions):
stored once in English, shown in the reader's language. Anything a person typed is shown as typed."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

DEMO_LOADED = "Loaded from the demo portfolio."
DEMO_HISTORY = (
    "Illustrative demo data: this move and its date are invented to give the stage analytics "
    "a history; the agreement's reported facts are unchanged."
)
DEMO_PLAN = "Illustrative demo data: this deliverable and its dates are invented."
DEMO_FIGURES = "Illustrative demo data: these figures are invented."
# Why what a partner still owed was waived when its agreement ended (deliverables.release_owed_on_end).
AGREEMENT_ENDED = "No longer owed: the agreement has ended."
# Why an open period with a thread was waived when its plan line was shortened (deliverables.follow_new_dates).
NO_LONGER_PLANNED = "No longer owed: the plan no longer has this period."
# Why a report due before an agreement signed before Sharaka came into it is not chased (deliverables.before_sharaka).
SETTLED_BEFORE_SHARAKA = "Settled before Sharaka: handled outside it, before the agreement was recorded here."

TRANSLATED = {
    DEMO_LOADED: _l("Loaded from the demo portfolio."),
    # What earlier versions wrote: the file's path has no place in a history.
    "Loaded from the demo portfolio (app/demo/portfolio.yaml).": _l("Loaded from the demo portfolio."),
    DEMO_HISTORY: _l(
        "Illustrative demo data: this move and its date are invented to give the stage analytics "
        "a history; the agreement's reported facts are unchanged."
    ),
    DEMO_PLAN: _l("Illustrative demo data: this deliverable and its dates are invented."),
    DEMO_FIGURES: _l("Illustrative demo data: these figures are invented."),
    AGREEMENT_ENDED: _l("No longer owed: the agreement has ended."),
    NO_LONGER_PLANNED: _l("No longer owed: the plan no longer has this period."),
    SETTLED_BEFORE_SHARAKA: _l("Settled before Sharaka: handled outside it, before the agreement was recorded here."),
    # The demo portfolio's budget lines (app/demo/portfolio.yaml), written by the loader, not a person.
    "D4SD programme coordination, 2026": _l("D4SD programme coordination, 2026"),
    "D4SD programme coordination, 2027": _l("D4SD programme coordination, 2027"),
    "Experts and premises for South-South cooperation": _l("Experts and premises for South-South cooperation"),
    "Training of AI engineers and researchers": _l("Training of AI engineers and researchers"),
    "Compute credits for the JAZARI ROOT lab": _l("Compute credits for the JAZARI ROOT lab"),
    "Lab premises and staff": _l("Lab premises and staff"),
}


def shown(text: str | None) -> str | None:
    """`text` in the reader's language when the app wrote it, else unchanged."""
    found = TRANSLATED.get(text) if text else None
    return str(found) if found is not None else text
