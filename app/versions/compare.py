"""Paragraph-then-word comparison of two extracted texts, with a count of changes per section.

Plain values in, plain values out (no Flask, no database): tested on its own.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
# Paragraphs this different are shown as one removed and one added, not as a word-level change.
PAIR_MIN_RATIO = 0.35
# Word-level diffs of longer paragraphs would cost too much: they are shown whole.
MAX_TOKENS = 4000
# Runs of unchanged paragraphs longer than this are folded, keeping one on each side as context.
FOLD_AFTER = 3
# The steps difflib may take for one comparison (about a second of one core): texts of many repeated
# words or paragraphs cost it far more than their length (a few KB of "a b a b …" against "b c a …"
# took minutes). Past the budget, what is left is shown whole: removed and added, not word by word.
WORK_BUDGET = 4_000_000


class TooCostly(Exception):
    """The comparison would take more steps than its budget allows."""


class _Budget:
    def __init__(self, steps: int = WORK_BUDGET):
        self.left = steps

    def matcher(self, a, b) -> difflib.SequenceMatcher:
        return _BudgetedMatcher(a, b, self)


class _BudgetedMatcher(difflib.SequenceMatcher):
    """A SequenceMatcher that counts, before each search for a longest match, the steps that search can
    take (every place in `b` of every element of `a`'s range), and stops with TooCostly past the budget."""

    def __init__(self, a, b, budget: _Budget):
        self.budget = budget
        super().__init__(None, a, b, autojunk=False)

    def find_longest_match(self, alo=0, ahi=None, blo=0, bhi=None):
        ahi = len(self.a) if ahi is None else ahi
        bhi = len(self.b) if bhi is None else bhi
        places = self.b2j
        self.budget.left -= 1 + sum(len(places.get(element, ())) for element in self.a[alo:ahi])
        if self.budget.left < 0:
            raise TooCostly
        return super().find_longest_match(alo, ahi, blo, bhi)


@dataclass
class Row:
    kind: str  # equal | added | removed | changed | folded
    old: str = ""
    new: str = ""
    level: int = 0
    section: str = ""
    words: list[tuple[str, str]] = field(default_factory=list)  # (equal|insert|delete, text)
    folded: int = 0


@dataclass
class Comparison:
    rows: list[Row]
    sections: list[tuple[str, int]]  # (section heading, number of changes), in order, only sections with changes
    added: int = 0
    removed: int = 0
    changed: int = 0
    rough: bool = False  # too costly to align paragraph by paragraph: every paragraph shown removed and added

    @property
    def total(self) -> int:
        return self.added + self.removed + self.changed


def word_diff(old: str, new: str, budget: _Budget | None = None) -> list[tuple[str, str]]:
    """(op, text) pieces turning `old` into `new`, op being equal, insert or delete; the paragraphs whole
    (deleted, inserted) when the words are too many or would cost more than the budget left."""
    whole = [("delete", old), ("insert", new)]
    a, b = TOKENS.findall(old), TOKENS.findall(new)
    if len(a) > MAX_TOKENS or len(b) > MAX_TOKENS:
        return whole
    try:
        opcodes = (budget or _Budget()).matcher(a, b).get_opcodes()
    except TooCostly:
        return whole
    pieces: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in opcodes:
        if op in ("delete", "replace"):
            pieces.append(("delete", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            pieces.append(("insert", "".join(b[j1:j2])))
        if op == "equal":
            pieces.append(("equal", "".join(a[i1:i2])))
    return pieces


def compare(old: list[list], new: list[list], budget: int = WORK_BUDGET) -> Comparison:
    """Compare two lists of [level, text] paragraphs, in at most `budget` steps of difflib's: past it,
    the paragraphs are aligned no further (those left shown removed and added, `rough` set) and the
    words of a changed paragraph are not compared (shown whole)."""
    old_texts, new_texts = [p[1] for p in old], [p[1] for p in new]
    rows: list[Row] = []
    steps = _Budget(budget)
    try:
        opcodes = steps.matcher(old_texts, new_texts).get_opcodes()
    except TooCostly:
        rows = [Row("removed", old=text, level=p[0]) for p, text in zip(old, old_texts)]
        rows += [Row("added", new=text, level=p[0]) for p, text in zip(new, new_texts)]
        comparison = _summarise(rows)
        comparison.rough = True
        return comparison
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            rows.extend(
                Row("equal", old=old_texts[i], new=new_texts[j], level=new[j][0])
                for i, j in zip(range(i1, i2), range(j1, j2))
            )
            continue
        olds, news = list(range(i1, i2)), list(range(j1, j2))
        while olds and news:
            i, j = olds[0], news[0]
            ratio = difflib.SequenceMatcher(None, old_texts[i], new_texts[j], autojunk=False).quick_ratio()
            if ratio < PAIR_MIN_RATIO:
                break
            olds.pop(0), news.pop(0)
            rows.append(
                Row(
                    "changed",
                    old=old_texts[i],
                    new=new_texts[j],
                    level=new[j][0],
                    words=word_diff(old_texts[i], new_texts[j], steps),
                )
            )
        rows.extend(Row("removed", old=old_texts[i], level=old[i][0]) for i in olds)
        rows.extend(Row("added", new=new_texts[j], level=new[j][0]) for j in news)
    return _summarise(rows)


def _summarise(rows: list[Row]) -> Comparison:
    counts: dict[str, int] = {}
    order: list[str] = []
    section = ""
    totals = {"added": 0, "removed": 0, "changed": 0}
    for row in rows:
        if row.level:
            section = row.new or row.old
        row.section = section
        if row.kind in totals:
            totals[row.kind] += 1
            if section not in counts:
                counts[section] = 0
                order.append(section)
            counts[section] += 1
    return Comparison(_fold(rows), [(name, counts[name]) for name in order], **totals)


def _fold(rows: list[Row]) -> list[Row]:
    """Fold long runs of unchanged paragraphs (headings stay visible, they orient the reader)."""
    result: list[Row] = []
    run: list[Row] = []

    def flush(last: bool) -> None:
        if len(run) <= FOLD_AFTER:
            result.extend(run)
        else:
            keep_before = [] if not result else run[:1]
            keep_after = [] if last else run[-1:]
            middle = run[len(keep_before) : len(run) - len(keep_after)]
            result.extend(keep_before)
            result.append(Row("folded", folded=len(middle), section=middle[0].section))
            result.extend(keep_after)
        run.clear()

    for row in rows:
        if row.kind == "equal" and not row.level:
            run.append(row)
            continue
        flush(False)
        result.append(row)
    flush(True)
    return result
