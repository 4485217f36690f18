from app.core.text import fold, like_pattern


def test_fold_removes_latin_accents_and_case():
    assert fold("Éducation NATIONALE") == "education nationale"


def test_fold_unifies_arabic_letter_variants_and_drops_diacritics():
    assert fold("الإدارة") == fold("الادارة")
    assert fold("مُذَكِّرَة") == fold("مذكرة")


def test_like_pattern_escapes_wildcards():
    assert like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"
