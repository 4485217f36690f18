import pytest

from app.core.text import fold, like_pattern, one_line, trimmed


def test_fold_removes_latin_accents_and_case():
    assert fold("Éducation NATIONALE") == "education nationale"


def test_fold_unifies_arabic_letter_variants_and_drops_diacritics():
    assert fold("الإدارة") == fold("الادارة")
    assert fold("مُذَكِّرَة") == fold("مذكرة")


def test_like_pattern_escapes_wildcards():
    assert like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"


def test_trimmed_drops_invisible_ends_and_keeps_what_is_inside():
    assert trimmed(None) == "" and trimmed(" \u200b\u202e\u200f\ufeff\u00a0\n") == ""
    assert trimmed("\u202eRapport\u200b ") == "Rapport"
    # Inside a text, a direction mark or a joiner is meaning, not padding: kept.
    assert trimmed(" تقرير\u200fD4SD ") == "تقرير\u200fD4SD"
    assert trimmed("a\x00b") == "ab"
    # Lines as kept: a browser's "\r\n" (and a lone "\r") is "\n", so notes saved again unchanged are unchanged.
    assert trimmed("Premier.\r\n\r\nSecond.\rTroisième.") == "Premier.\n\nSecond.\nTroisième."


def test_a_text_of_many_lines_keeps_no_direction_override_but_keeps_its_marks():
    """An override inside a message or a note turned what followed around as shown ("account
    \u202e1234-5678" read 8765-4321); embeddings and isolates go too. The marks (RLM, LRM) stay."""
    assert trimmed("Pay to account \u202e1234-5678\u202c.\nMerci") == "Pay to account 1234-5678.\nMerci"
    assert trimmed("a\u202ab\u202bc\u202dd \u2066e\u2067f\u2068g\u2069") == "abcd efg"
    assert trimmed("المبلغ\u200f 1000\u200e درهم\nسطر ثان") == "المبلغ\u200f 1000\u200e درهم\nسطر ثان"


def test_trimmed_counts_the_blank_looking_characters_as_nothing():
    """Default-ignorable characters outside the format category, and the blank braille pattern, show as
    nothing: a title of them alone is empty."""
    for blank in ("\u2800", "\u3164", "\u115f", "\u034f", "\ufe0f", "\u17b5", "\U000e0100"):
        assert trimmed(f" {blank * 3} ") == "", repr(blank)
    assert trimmed("\u3164Rapport\u2800") == "Rapport"


def test_one_line_keeps_a_name_on_its_line_and_its_direction_to_itself():
    assert one_line("Camille\u202e\r\nBcc: evil@example.org") == "Camille Bcc: evil@example.org"
    assert one_line(" Accord\n\n\u2028cadre \u2066x\u2069 ") == "Accord cadre x"
    assert one_line("تقرير\u200fD4SD") == "تقرير\u200fD4SD"  # a mark is meaning: kept
    assert one_line(None) == "" and one_line("\u202e\r\n\u2800") == ""


@pytest.mark.parametrize(
    "given, written",
    [
        ("https://شراكة.gov.ma", "https://xn--mgbewl1f.gov.ma"),
        ("https://user@Café.MA:8443/app", "https://user@xn--caf-dma.ma:8443/app"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("https://sharaka.gov.ma/x?y=1", "https://sharaka.gov.ma/x?y=1"),
    ],
)
def test_base_url_host_is_written_in_ascii_for_mail_headers(given, written):
    from config import ascii_url

    assert ascii_url(given) == written


def test_control_characters_are_kept_out_of_typed_text():
    """A bell or an escape in a title passed as filled in, showed as nothing, and went raw into e-mail
    subjects and calendar feeds; lines and tabs stay where a text may have them."""
    from app.core.text import one_line, trimmed

    assert trimmed("\x07\x1b\x9b") == "" and one_line("\x07") == ""
    assert one_line("Rapport\x07 annuel\tT1\n2026") == "Rapport annuel T1 2026"
    assert trimmed("ligne 1\nligne\t2\x1b") == "ligne 1\nligne\t2"
