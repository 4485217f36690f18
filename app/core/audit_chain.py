"""Checking the audit trail's hash chain, and publishing its head as an anchor.

`verify` walks every sealed row in sequence order and recomputes each hash; it reports
the first broken link: a row edited (its hash no longer matches), deleted (a gap in the
sequence), inserted outside Sharaka (a row with no seal), reordered (a link pointing at
the wrong predecessor) or removed from the end (the head row says the chain is longer).
An anchor, a (sequence, hash) pair published earlier, catches even a rewrite of the
whole chain: the row at that sequence must still carry that hash.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from flask_babel import force_locale
from sqlalchemy import select

from app.core.audit import GENESIS_HASH, AuditAnchor, AuditChainHead, AuditEvent, digest_of
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.extensions import db

BATCH = 2000
# Not after a minus: "-1:…" is no anchor (there is no row -1), not anchor 1.
ANCHOR_PATTERN = re.compile(r"(?<![-\w])(\d+):([0-9a-f]{64})\b")
NEGATIVE_ANCHOR_PATTERN = re.compile(r"-\d+:[0-9a-f]{64}\b")


def problem_said(kind: str, params: dict) -> str:
    """A broken link of the chain in the reader's language: the auditor who checks the trail on its page,
    the one the daily anchor is mailed to (its notice keeps the problem as kind and params)."""
    if kind == "missing":
        return _("row %(seq)s is missing (the next row is %(next)s, id %(id)s): deleted", **params)
    if kind == "out_of_order":
        return _(
            "row %(seq)s (id %(id)s) does not follow row %(previous)s: rows were inserted, removed or reordered",
            **params,
        )
    if kind == "changed":
        return _("row %(seq)s (id %(id)s) was changed after it was written", **params)
    if kind == "unsealed":
        return _("row id %(id)s carries no seal: it was written outside Sharaka", **params)
    if kind == "no_head":
        return _("the chain head is missing")
    if kind == "shortened":
        return _(
            "the trail ends at row %(seq)s but the chain head says %(head)s: rows were removed from the end or the "
            "head was changed",
            **params,
        )
    if kind == "anchor":
        return _("anchor %(anchor)s… does not match the trail: it was rewritten", **params)
    return kind


@dataclass(frozen=True)
class Problem:
    """One broken link: said in the reader's language where a person reads it (`said`), in English in the
    log, the command's output and the anchor's record (`str`)."""

    kind: str
    params: dict = field(default_factory=dict)

    def said(self) -> str:
        return problem_said(self.kind, self.params)

    def __str__(self) -> str:
        with force_locale("en"):
            return self.said()


# Problems a walk stopped part-way carries to its next part; past them it only counts (the page lists 50).
PROBLEMS_CARRIED = 100


@dataclass
class Verification:
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[Problem] = field(default_factory=list)
    anchors_checked: int = 0
    complete: bool = True  # False: stopped after `stop_after` seconds, the rows after head_seq not read
    # What the next part of a walk stopped part-way needs (`verify(resume=...)`): the anchors asked, the
    # chain head as the walk began (None: there was no head row), the hashes walked of the rows they name,
    # and how many problems were found past those carried.
    anchors: list[tuple[int, str]] = field(default_factory=list)
    head_at_start: tuple[int, str] | None = None
    found: dict[int, str] = field(default_factory=dict)
    problems_uncarried: int = 0
    # When its first part began, and in how many parts it went: rows read by an earlier part are not read
    # again, so a verdict over several parts holds for each row as it was when its part read it.
    started_at: datetime | None = None
    parts: int = 1

    @property
    def is_intact(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def problem_count(self) -> int:
        return len(self.problems) + self.problems_uncarried

    @property
    def rows_to_walk(self) -> int:
        """Rows the chain head counted as the walk began (rows sealed since are walked too)."""
        return self.head_at_start[0] if self.head_at_start else 0

    def carried(self) -> dict:
        """The walk so far as plain values (JSON), for its next part: `resumed` reads it back."""
        return {
            "checked": self.checked,
            "head": [self.head_seq, self.head_hash],
            "problems": [[p.kind, p.params] for p in self.problems[:PROBLEMS_CARRIED]],
            "uncarried": self.problem_count - min(len(self.problems), PROBLEMS_CARRIED),
            "anchors": [list(anchor) for anchor in self.anchors],
            "anchors_checked": self.anchors_checked,
            "head_at_start": list(self.head_at_start) if self.head_at_start else None,
            "found": [[seq, digest] for seq, digest in self.found.items()],
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "parts": self.parts,
        }

    @classmethod
    def resumed(cls, values: dict) -> Verification:
        """A walk carried by `carried` (values this app signed), to go on from; ValueError when they are not
        its shape (a number out of a row number's range, a problem of no known kind)."""
        head_at_start = values["head_at_start"]
        walk = cls(
            checked=_count(values["checked"]),
            head_seq=_count(values["head"][0]),
            head_hash=str(values["head"][1]),
            problems=[Problem(str(kind), dict(params)) for kind, params in values["problems"]],
            problems_uncarried=_count(values["uncarried"]),
            anchors=[(_count(seq), str(digest)) for seq, digest in values["anchors"]],
            anchors_checked=_count(values["anchors_checked"]),
            head_at_start=(_count(head_at_start[0]), str(head_at_start[1])) if head_at_start else None,
            found={_count(seq): str(digest) for seq, digest in values["found"]},
            started_at=datetime.fromisoformat(values["started_at"]),
            parts=_count(values["parts"]),
            complete=False,
        )
        if any(problem.kind not in PROBLEM_KINDS for problem in walk.problems):
            raise ValueError("a problem of no known kind")
        return walk

    def summary(self) -> str:
        if self.is_intact:
            return f"ok: {self.checked} rows, head {self.head_seq}:{self.head_hash}"
        return f"broken: {self.first_problem}"


PROBLEM_KINDS = {"missing", "out_of_order", "changed", "unsealed", "no_head", "shortened", "anchor"}


def _count(value) -> int:
    """A row number or a count carried by a walk: a whole number a database column holds."""
    number = int(value)
    if not 0 <= number < 2**63:
        raise ValueError(f"{value!r} is no row number")
    return number


def parse_anchors(values: list[str]) -> list[tuple[int, str]]:
    """Anchors given as `SEQ:HASH`, or files holding such pairs (an anchor e-mail or log saved as text)."""
    anchors: list[tuple[int, str]] = []
    for value in values:
        path = Path(value)
        if path.is_file():
            found = anchors_in(path.read_text(encoding="utf-8", errors="replace"))
        elif "/" in value or value.lower().endswith((".txt", ".eml")):
            raise ValueError(f"no such file: {value!r}")
        elif NEGATIVE_ANCHOR_PATTERN.search(value.lower()):
            raise ValueError(f"{value!r}: an anchor's row number (SEQ) is 1 or more, never negative")
        else:
            found = anchors_in(value)
        if not found:
            raise ValueError(f"no SEQ:SHA256 anchor in {value!r}")
        anchors.extend(found)
    return anchors


def anchors_in(text: str) -> list[tuple[int, str]]:
    """The `SEQ:HASH` pairs written in `text` (pasted from an anchor e-mail or a log line), in order."""
    return [(int(seq), digest) for seq, digest in ANCHOR_PATTERN.findall(text.lower())]


def verify(
    anchors: Sequence[tuple[int, str]] = (),
    *,
    stop_after: float | None = None,
    resume: Verification | None = None,
) -> Verification:
    """Walk the whole chain; every problem found is listed, the first one first. With `stop_after` (seconds),
    stop once it has taken that long with rows still to read: `complete` is then False, and neither the head
    nor the anchors past the rows read are compared (a page's request: the walk reads some 30,000 rows a
    second, and a million took longer than a web worker may take to answer). `resume`: such a walk, which
    goes on from the row after the last it read, with the anchors and the head it began with."""
    started = time.monotonic()
    table = AuditEvent.__table__
    if resume is None:
        result = Verification(anchors=list(anchors), started_at=utcnow())
        unsealed = db.session.scalars(
            select(AuditEvent.id).where(AuditEvent.chain_seq.is_(None)).order_by(AuditEvent.id).limit(5)
        ).all()
        # The head as the walk begins: rows sealed while it walks lie past it, and are walked like the others.
        # Read after the walk, a head a writer moved meanwhile was taken for a trail cut short.
        head = db.session.get(AuditChainHead, 1)
        result.head_at_start = (head.last_seq, head.last_hash) if head is not None else None
    else:
        result, unsealed = resume, []
        result.parts += 1
    result.complete = True
    wanted = {seq for seq, _digest in result.anchors} | ({result.head_at_start[0]} if result.head_at_start else set())
    walked_before = result.head_seq  # rows read by the walk's earlier parts
    expected_seq, prev_hash = result.head_seq + 1, result.head_hash
    after = result.head_seq
    while True:
        # Plain rows, not ORM objects: a million rows walk in constant memory, and the
        # session's own objects (the signed-in auditor) stay untouched.
        rows = db.session.execute(
            select(table).where(table.c.chain_seq > after).order_by(table.c.chain_seq).limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.chain_seq != expected_seq:
                result.problems.append(Problem("missing", {"seq": expected_seq, "next": row.chain_seq, "id": row.id}))
                expected_seq = row.chain_seq
            if row.prev_hash != prev_hash:
                result.problems.append(
                    Problem("out_of_order", {"seq": row.chain_seq, "id": row.id, "previous": row.chain_seq - 1})
                )
            if digest_of(row, seq=row.chain_seq, prev_hash=row.prev_hash or "") != row.row_hash:
                result.problems.append(Problem("changed", {"seq": row.chain_seq, "id": row.id}))
            if row.chain_seq in wanted:
                result.found[row.chain_seq] = row.row_hash
            prev_hash = row.row_hash
            expected_seq += 1
            result.checked += 1
        after = rows[-1].chain_seq
        if stop_after is not None and time.monotonic() - started > stop_after and len(rows) == BATCH:
            result.complete = False
            break
    result.head_seq, result.head_hash = expected_seq - 1, prev_hash
    for row_id in unsealed:
        result.problems.append(Problem("unsealed", {"id": row_id}))
    if result.head_at_start is None:
        if resume is None:
            result.problems.append(Problem("no_head"))
    elif result.complete:
        head_seq, head_hash = result.head_at_start
        walked_hash = result.found.get(head_seq, GENESIS_HASH if head_seq == 0 else None)
        if result.head_seq < head_seq or walked_hash != head_hash:
            result.problems.append(Problem("shortened", {"seq": result.head_seq, "head": head_seq}))
    for seq, digest in result.anchors:
        if resume is not None and seq <= walked_before:
            continue  # compared by the part that read it
        if not result.complete and seq > result.head_seq:
            continue  # past the rows read
        result.anchors_checked += 1
        if result.found.get(seq) != digest:
            result.problems.append(Problem("anchor", {"anchor": f"{seq}:{digest[:12]}"}))
    return result


def recent_anchors(limit: int = 10) -> list[AuditAnchor]:
    return list(db.session.scalars(select(AuditAnchor).order_by(AuditAnchor.id.desc()).limit(limit)))
