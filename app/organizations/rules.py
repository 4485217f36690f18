"""What a retired organisation may no longer be: the one rule every form and the API ask when an
organisation is chosen anew (a party, an account, an invitation). Where it was chosen before it was
retired, it stays: an ended agreement keeps its parties, an account its organisation."""

from __future__ import annotations

from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.templating import written_date


def _retired_day(organization) -> str:
    return written_date(organization.retired_at, "long")


def retired_said(organization) -> str:
    """Why `organization` (retired) cannot be chosen, naming the day."""
    return _(
        "%(name)s was retired on %(date)s: it cannot be chosen any more.",
        name=organization.name,
        date=_retired_day(organization),
    )


def check_may_be_chosen(organization, field: str, *, chosen_before: bool = False) -> None:
    """Refuse (ValidationFailed on `field`) a retired organisation, unless it was `chosen_before` it was
    retired and is only kept."""
    if organization is not None and organization.is_retired and not chosen_before:
        message = retired_said(organization)
        raise ValidationFailed(message, {field: [message]})


def check_may_sign_in_for(organization, field: str) -> None:
    """Refuse (ValidationFailed on `field`) turning on an account of a retired organisation: nobody speaks
    for it any more until it is reinstated."""
    if organization is not None and organization.is_retired:
        message = _(
            "%(name)s was retired on %(date)s: reinstate it before an account of it can sign in.",
            name=organization.name,
            date=_retired_day(organization),
        )
        raise ValidationFailed(message, {field: [message]})
