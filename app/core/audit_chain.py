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
from pathlib import Path

from flask_babel import force_locale
from sqlalchemy import select

from app.core.audit import GENESIS_HASH, AuditAnchor, AuditChainHead, AuditEvent, digest_of
from app.core.i18n import gettext as _
from app.extensions import db

BATCH = 2000
ANCHOR_PATTERN = re.compile(r"\b(\d+):([0-9a-f]{64})\b")


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


@dataclass
class Verification:
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[Problem] = field(default_factory=list)
    anchors_checked: int = 0
    complete: bool = True  # False: stopped after `stop_after` seconds, the rows after head_seq not read

    @property
    def is_intact(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        if self.is_intact:
            return f"ok: {self.checked} rows, head {self.head_seq}:{self.head_hash}"
        return f"broken: {self.first_problem}"


def parse_anchors(values: list[str]) -> list[tuple[int, str]]:
    """Anchors given as `SEQ:HASH`, or files holding such pairs (an anchor e-mail or log saved as text)."""
    anchors: list[tuple[int, str]] = []
    for value in values:
        path = Path(value)
        found = anchors_in(path.read_text(encoding="utf-8", errors="replace") if path.is_file() else value)
        if not found:
            raise ValueError(f"no SEQ:SHA256 anchor in {value!r}")
        anchors.extend(found)
    return anchors


def anchors_in(text: str) -> list[tuple[int, str]]:
    """The `SEQ:HASH` pairs written in `text` (pasted from an anchor e-mail or a log line), in order."""
    return [(int(seq), digest) for seq, digest in ANCHOR_PATTERN.findall(text.lower())]


def verify(anchors: Sequence[tuple[int, str]] = (), *, stop_after: float | None = None) -> Verification:
    """Walk the whole chain; every problem found is listed, the first one first. With `stop_after` (seconds),
    stop once it has taken that long with rows still to read: `complete` is then False, and neither the head
    nor the anchors past the rows read are compared (a page's request: the walk reads some 30,000 rows a
    second, and a million took longer than a web worker may take to answer)."""
    started = time.monotonic()
    result = Verification()
    table = AuditEvent.__table__
    unsealed = db.session.scalars(
        select(AuditEvent.id).where(AuditEvent.chain_seq.is_(None)).order_by(AuditEvent.id).limit(5)
    ).all()
    # The head as the walk begins: rows sealed while it walks lie past it, and are walked like the others.
    # Read after the walk, a head a writer moved meanwhile was taken for a trail cut short.
    head = db.session.get(AuditChainHead, 1)
    expected_seq, prev_hash = 1, GENESIS_HASH
    by_seq: dict[int, str] = {}
    wanted = {seq for seq, _digest in anchors} | ({head.last_seq} if head is not None else set())
    after = 0
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
                by_seq[row.chain_seq] = row.row_hash
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
    if head is None:
        result.problems.append(Problem("no_head"))
    elif result.complete and (
        result.head_seq < head.last_seq
        or by_seq.get(head.last_seq, GENESIS_HASH if head.last_seq == 0 else None) != head.last_hash
    ):
        result.problems.append(Problem("shortened", {"seq": result.head_seq, "head": head.last_seq}))
    for seq, digest in anchors:
        if not result.complete and seq > result.head_seq:
            continue  # past the rows read
        result.anchors_checked += 1
        if by_seq.get(seq) != digest:
            result.problems.append(Problem("anchor", {"anchor": f"{seq}:{digest[:12]}"}))
    return result


def recent_anchors(limit: int = 10) -> list[AuditAnchor]:
    return list(db.session.scalars(select(AuditAnchor).order_by(AuditAnchor.id.desc()).limit(limit)))
