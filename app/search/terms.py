"""Words reduced to what a search should compare, the same way for what is stored and what is asked.

Arabic glues conjunctions, prepositions and the article to the word ("للذكاء", "والذكاء",
"بالذكاء"): the Snowball Arabic stemmer removes most of these and common suffixes; a leading
wa-/fa- before a prefixed word, which it keeps, is removed first. Latin words are folded
(accents off, lower case) and stemmed in French and in English, both kept, since a title's
language is not recorded per word. Stored text keeps each word folded as well as its stems, so
a reference or a file name is found by its beginning too.

Pure functions: used by the index (app/search/index.py), the search, and migration 0010.
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

from app.core.text import fold

_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_ARABIC = re.compile("[\u0600-\u06ff]")
_ARABIC_PREFIXED = ("ال", "لل", "بال", "كال", "فال")
MAX_QUERY_WORDS = 8


@lru_cache(maxsize=4)
def _stemmer(language: str):
    return snowballstemmer.stemmer(language)


@lru_cache(maxsize=20000)
def variants(word: str) -> tuple[str, ...]:
    """The forms of one folded word that are stored and compared: the word itself and its stems."""
    if _ARABIC.search(word):
        bare = word
        if len(bare) > 4 and bare[0] in "وف" and bare[1:].startswith(_ARABIC_PREFIXED):
            bare = bare[1:]
        stem = _stemmer("arabic").stemWord(bare)
        forms = (word, bare, stem)
    else:
        forms = (word, _stemmer("french").stemWord(word), _stemmer("english").stemWord(word))
    return tuple(dict.fromkeys(form for form in forms if form))


def words(text: str | None) -> list[str]:
    return _WORDS.findall(fold(text))


def index_terms(*texts: str | None) -> str:
    """What a search entry stores: every form of every word, space-separated, with spaces around
    (so a LIKE '% stem%' finds a word by its beginning)."""
    forms: dict[str, None] = {}
    for text in texts:
        folded = fold(text)
        if folded and " " not in folded and len(folded) <= 80:
            forms[folded] = None  # a reference or file name as a whole ("mtnra-2025-001")
        for word in words(text):
            for form in variants(word):
                forms[form] = None
    return f" {' '.join(forms)} " if forms else ""


def query_words(query: str | None) -> list[tuple[str, ...]]:
    """Each word of a query as the forms it may match; an entry matches when every word does."""
    found = []
    for word in words((query or "")[:200])[:MAX_QUERY_WORDS]:
        found.append(variants(word))
    return found
