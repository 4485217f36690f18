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

    @property
    def total(self) -> int:
        return self.added + self.removed + self.changed


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) pieces turning `old` into `new`, op being equal, insert or delete."""
    a, b = TOKENS.findall(old), TOKENS.findall(new)
    if len(a) > MAX_TOKENS or len(b) > MAX_TOKENS:
        return [("delete", old), ("insert", new)]
    pieces: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            pieces.append(("delete", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            pieces.append(("insert", "".join(b[j1:j2])))
        if op == "equal":
            pieces.append(("equal", "".join(a[i1:i2])))
    return pieces


def compare(old: list[list], new: list[list]) -> Comparison:
    """Compare two lists of [level, text] paragraphs."""
    old_texts, new_texts = [p[1] for p in old], [p[1] for p in new]
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(None, old_texts, new_texts, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
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
                    words=word_diff(old_texts[i], new_texts[j]),
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
