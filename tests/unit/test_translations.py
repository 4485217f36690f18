"""Every marked string has an Arabic and a French translation that keeps its placeholders."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

pytestmark = pytest.mark.backend_neutral

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    pot = tmp_path_factory.mktemp("babel") / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "app/translations/babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-k",
            "_pgettext:2c,3",  # as the Makefile's translations-update: the page's pgettext, in Python
            "-k",
            "lazy_pgettext:1c,2",
            "-o",
            str(pot),
            "--no-location",
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return [m for m in read_po(handle) if m.id]


@pytest.mark.parametrize("language", ["ar", "fr"])
def test_catalogue_is_complete_and_keeps_placeholders(extracted, language):
    with (ROOT / "app" / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    missing, broken = [], []
    for message in extracted:
        translated = catalogue.get(message.id, message.context)
        strings = translated.string if translated else None
        strings = strings if isinstance(strings, (list, tuple)) else [strings]
        if translated is None or translated.fuzzy or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
            continue
        source = message.id if isinstance(message.id, str) else message.id[1]
        wanted = set(PLACEHOLDER.findall(source))
        for text in strings:
            if not set(PLACEHOLDER.findall(text)) <= wanted:
                broken.append(source)
    assert not missing, f"{len(missing)} untranslated in {language} (run make translations-update): {missing[:10]}"
    assert not broken, f"placeholders changed in {language}: {broken[:10]}"


def _translated_texts(language: str) -> list[str]:
    """Every translated text of `language`'s catalogue, each plural form apart."""
    with (ROOT / "app" / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    return [
        text
        for message in catalogue
        if message.id
        for text in (message.string if isinstance(message.string, (list, tuple)) else [message.string])
    ]


def test_french_keeps_its_punctuation_on_the_line_of_its_word():
    """French spaces a colon, a semicolon, a question or exclamation mark from the word before, and the text
    inside « »: with a breaking space, a line ended on « or began with » or ":" (an outside look at the
    dashboard: « Activer / » (l'accord est à l'étape «). The space is a non-breaking one."""
    breaking = re.compile(r"« | »| [:;?!](?=\s|$|<|\)|%|\")")
    found = [text for text in _translated_texts("fr") if breaking.search(text)]
    assert not found, f"{len(found)} French texts with a breaking space before their punctuation: {found[:5]}"


def test_french_writes_its_apostrophe_as_one_typographic_mark():
    """Inside a word French writes the apostrophe ’ (U+2019), as most of the catalogue does: a page that mixed it
    with the typewriter ' read « Remis. Le ministère va l'examiner. » next to « l’accord »."""
    typewriter = re.compile(r"[^\W\d_]'[^\W\d_]")
    found = [text for text in _translated_texts("fr") if typewriter.search(text)]
    assert not found, f"{len(found)} French texts with a typewriter apostrophe inside a word: {found[:5]}"


# The placeholders that stand for a number (a count, days, a size): the word after them is their unit.
NUMBER_PLACEHOLDERS = (
    "num|count|n|days|number|amount|limit|ms|size|done|met|on_time|handed_in|shown|total|quorum|available|low|high"
    "|thousands"
)


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_a_number_keeps_its_unit_on_its_line(language):
    """A number and the word after it (its unit: jours, Mo, accords; يومًا) are joined by a non-breaking space:
    a line had ended on "Délai cible : 21" with "jours" alone on the next (an outside look, on a desktop)."""
    # A placeholder's number, or a number written out ("90 jours", "12 حرفًا"); a number's groups of
    # digits are kept together too ("200 000", by a narrow non-breaking space, as French writes numbers).
    breaking = re.compile(
        r"%\((?:" + NUMBER_PLACEHOLDERS + r")\)s (?=\w)|\d (?=(?:jours?|caractères?|décimales?|يومًا|حرفًا|محرفًا)\b)"
        r"|\d (?=\d{3}\b)"
    )
    found = [text for text in _translated_texts(language) if breaking.search(text)]
    assert not found, f"{len(found)} texts with a breaking space between a number and its unit: {found[:5]}"


def test_catalogues_not_compiled_stop_production_and_are_logged_elsewhere(app, tmp_path, monkeypatch):
    """Compiled catalogues are not in git: without them every page and mail would be English under an
    Arabic heading. Production refuses to start and names the command; other settings log it."""
    import os

    from app import _check_catalogues

    for language in ("ar", "fr"):
        source = tmp_path / language / "LC_MESSAGES" / "messages.po"
        source.parent.mkdir(parents=True)
        source.write_text('msgid ""\nmsgstr ""\n', encoding="utf-8")
    (tmp_path / "fr" / "LC_MESSAGES" / "messages.mo").write_bytes(b"")
    older = (tmp_path / "fr" / "LC_MESSAGES" / "messages.po").stat().st_mtime - 60
    os.utime(tmp_path / "fr" / "LC_MESSAGES" / "messages.mo", (older, older))  # compiled before its last edit
    with pytest.raises(RuntimeError, match=r"ar, fr are not compiled.*pybabel compile"):
        _check_catalogues(app, strict=True, folder=tmp_path)
    logged = []
    monkeypatch.setattr(app.logger, "warning", logged.append)
    _check_catalogues(app, strict=False, folder=tmp_path)
    assert len(logged) == 1 and "pybabel compile" in logged[0]
    for language in ("ar", "fr"):
        (tmp_path / language / "LC_MESSAGES" / "messages.mo").write_bytes(b"")
    _check_catalogues(app, strict=True, folder=tmp_path)  # compiled: nothing to say


def test_arabic_counts_each_number_in_its_own_form():
    """Arabic has six plural forms (none, one, two, three to ten, eleven to ninety-nine, a hundred and more):
    a plural message given one text for all six reads "2 اتفاقية" where Arabic writes "اتفاقيتين", and "3
    اتفاقية" for "3 اتفاقيات"."""
    with (ROOT / "app" / "translations" / "ar" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    one_for_all = [m.id[1] for m in catalogue if m.id and m.pluralizable and len(set(m.string)) == 1]
    assert not one_for_all, f"{len(one_for_all)} plural texts with one Arabic form for every number: {one_for_all}"
