"""What makes a password acceptable (ASVS 2.1): long enough, not common, not about its owner.

No composition rules (no "one digit, one capital"): length and unguessability are what
count. Guessability is estimated by zxcvbn, offline, with the words an attacker would try
first for this person and this ministry added to its dictionaries. Arabic and any other
Unicode text is welcome.
"""

from __future__ import annotations

import re
import unicodedata

from flask import current_app
from zxcvbn import zxcvbn

from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _

MIN_LENGTH = 12
MAX_LENGTH = 256
# zxcvbn's own limit; what lies past it adds strength, never weakness.
ESTIMATE_CHARS = 72
# zxcvbn's scale: 3 is "safely unguessable" (about 10^10 guesses), the ASVS level 2 bar for an online attack.
MIN_SCORE = 3
# The product itself: a password built on its name is the first guess.
APP_WORDS = ("sharaka", "شراكة")
# Words attackers try first here, beside zxcvbn's mostly English lists.
LOCAL_WORDS = (
    "sharaka",
    "شراكة",
    "mtnra",
    "maroc",
    "morocco",
    "marocain",
    "rabat",
    "casablanca",
    "agadir",
    "tanger",
    "ministere",
    "ministre",
    "ministry",
    "royaume",
    "azerty",
    "azertyuiop",
    "motdepasse",
    "bonjour",
    "soleil",
    "bienvenue",
    "salam",
    "marhaba",
    "المغرب",
    "الرباط",
    "مرحبا",
    "كلمةالسر",
    "كلمة",
    "السر",
    "وزارة",
    "الوزارة",
    "partenariat",
    "partnership",
    "numerique",
    "digital",
    "transition",
)


def _normalized(text: str) -> str:
    """Case, accents and punctuation do not make a word another word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum())


def related_words(*, email: str = "", full_name: str = "", organization_names=()) -> list[str]:
    words = [
        email,
        *re.split(r"[@._+\-]", email or ""),
        full_name,
        *(full_name or "").split(),
        *organization_names,
        *APP_WORDS,
        current_app.config.get("AGREEMENT_REF_PREFIX", ""),
    ]
    return [word for word in {_normalized(w) for w in words if w} if len(word) >= 3]


def check(
    password: str,
    *,
    email: str = "",
    full_name: str = "",
    organization_names=(),
    field: str = "password",
    own: bool = True,
) -> None:
    """Raise ValidationFailed (on `field`) with a message saying what to change; `own`: the person chooses
    their own password (else an admin sets someone else's, and is spoken to about that person)."""

    def refuse(message: str):
        raise ValidationFailed(message, {field: [message]})

    password = password or ""
    if len(password) < MIN_LENGTH:
        refuse(_("The password must have at least %(n)s characters.", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        refuse(_("The password is too long (%(n)s characters at most).", n=MAX_LENGTH))
    personal = related_words(email=email, full_name=full_name, organization_names=organization_names)
    flat = _normalized(password)
    remainder = flat
    for word in sorted(personal, key=len, reverse=True):
        remainder = remainder.replace(word, "")
    if remainder != flat and len(remainder) < MIN_LENGTH // 2:
        refuse(
            _(
                "The password is too close to your name, your e-mail address or your organisation's name. "
                "Choose something others cannot guess from them."
            )
            if own
            else _(
                "The password is too close to the person's name, e-mail address or organisation's name. "
                "Choose something others cannot guess from them."
            )
        )
    estimate = zxcvbn(password[:ESTIMATE_CHARS], user_inputs=[*personal, *LOCAL_WORDS])
    if estimate["score"] < MIN_SCORE:
        refuse(
            _(
                "This password is too common or too easy to guess. A few unrelated words, in any "
                "language, make a strong password that is easy to remember."
            )
        )
