"""Text folding for search in Arabic and Latin scripts; what is kept of a typed text; mentions in a message."""

from __future__ import annotations

import re
import unicodedata

# Arabic short vowels, tanween, shadda, sukun, superscript alef, and tatweel.
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")
_ARABIC_FOLDS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "و",
        "ئ": "ي",
    }
)
_SPACES = re.compile(r"\s+")


def fold(value: str | None) -> str:
    """Lower-case, strip Latin accents and Arabic diacritics, unify letter variants.

    "Éducation" and "education" match, and so do "الإدارة" and "الادارة".
    """
    if not value:
        return ""
    value = value.replace("\x00", "")
    value = _ARABIC_MARKS.sub("", value)
    value = value.translate(_ARABIC_FOLDS)
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # NFKD splits Arabic hamza forms too; recompose what is left before folding case.
    return _SPACES.sub(" ", unicodedata.normalize("NFC", stripped).casefold()).strip()


def like_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, with the wildcards in it escaped."""
    term = term.replace("\x00", "")  # PostgreSQL text cannot hold NUL
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def ascii_digits(value: str) -> str:
    """`value` with every decimal digit written 0-9: a code or a number typed on an Arabic keyboard
    ("١٢٣٤٥٦", "۱۲۳") reads as the same digits. Other characters are left as they are."""
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in value)


_SURROGATE = re.compile("[\ud800-\udfff]")  # half of a pair, alone: one U+FFFD each


def storable(value: str) -> str:
    """Text as the databases keep it: without NUL bytes (no text needs them, and PostgreSQL refuses them),
    an unpaired surrogate (valid in JSON, not text: "\\ud800") replaced by U+FFFD."""
    value = value.replace("\x00", "")
    if value.isascii():
        return value
    return _SURROGATE.sub("\ufffd", value)


# Control characters no typed text needs (a bell, an escape, C1 codes), kept out: a title of them alone
# passed as filled in and showed as nothing, and they went raw into e-mail subjects and calendar feeds.
# Tabs and line breaks stay where a text may have lines; one_line turns them into spaces.
_CONTROLS = re.compile("[\x01-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
# Embeddings, overrides and isolates (U+202A–202E, U+2066–2069); the marks (LRM, RLM, ALM) stay.
_DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def trimmed(value: str | None) -> str:
    """A typed text as it is kept, on as many lines as it has (a message, a note, a description, a
    version's paragraph): storable, without the controls that embed, override or isolate the direction
    of what follows, and without the spaces and invisible characters at its ends (zero-width spaces,
    direction marks, byte-order marks: Unicode's format characters). A text of nothing else is empty: a
    title of one right-to-left override passed "at least one title" and showed as nothing. The marks
    (LRM, RLM, ALM) stay inside: Arabic text mixed with figures and Latin words needs them."""
    # Lines end with "\n" as kept: a browser sends a text area's lines with "\r\n", and notes saved again
    # unchanged had been recorded in the history as changed. An override turns what follows around as
    # shown ("account \u202e1234-5678" reads 8765-4321; in a compared version "0001" reads "1000"),
    # Trojan-Source style, while the text kept and searched says otherwise.
    text = _CONTROLS.sub("", storable(value or "")).replace("\r\n", "\n").replace("\r", "\n")
    text = _DIRECTION_CONTROLS.sub("", text)
    start, end = 0, len(text)
    while start < end and _invisible(text[start]):
        start += 1
    while end > start and _invisible(text[end - 1]):
        end -= 1
    return text[start:end]


# Characters that show as nothing without being format characters (Unicode's Default_Ignorable_Code_Point
# outside Cf: the combining grapheme joiner, Hangul fillers, Khmer's inherent vowels, Mongolian and other
# variation selectors), and the blank braille pattern: a title of them alone showed as nothing.
_BLANK = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]")


def _invisible(character: str) -> bool:
    return character.isspace() or unicodedata.category(character) == "Cf" or bool(_BLANK.match(character))


_LINE_BREAKS = re.compile("[\t\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")


def one_line(value: str | None) -> str:
    """A name or a title as kept: trimmed (so without the controls that embed or override the direction of
    what follows), each run of line breaks one space. A name is shown inside the app's own words (a page's
    sentence, an e-mail's subject and its plain-text body), where a line break started a line that looked
    like the app's ("Approve: https://…") and an unclosed override turned the app's words after it around."""
    return trimmed(_LINE_BREAKS.sub(" ", trimmed(value)))


def storable_everywhere(value):
    """`value` (a JSON document: dicts, lists, texts, numbers) with every text storable, its keys too."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_everywhere(key): storable_everywhere(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_everywhere(item) for item in value]
    return value


# @name@example.org in a message: an e-mail address after the @ (addresses are unique and say who is meant).
MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")


def mentions_isolated(text: str) -> str:
    """`text` (plain: a notice, an e-mail) with each @mention between a left-to-right isolate and its end
    (LRI … PDI). In an Arabic message a bare one read "name@example.org@", its @ moved to the far end; pages
    isolate them in HTML (the `mentions` filter, app/core/templating.py)."""
    return MENTION.sub(lambda match: f"\u2066{match.group(0)}\u2069", text)
