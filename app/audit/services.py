"""Publishing the head of the audit trail's hash chain."""

from __future__ import annotations

import logging

from sqlalchemy import select

from app.auth.models import User
from app.core.audit import AuditAnchor
from app.core.audit_chain import verify
from app.core.permissions import holders_clause
from app.extensions import db
from app.notifications.services import Notice, notify

log = logging.getLogger("sharaka.audit")


def publish_anchor() -> AuditAnchor:
    """Verify the chain, record its head as an anchor, log it and e-mail it to the auditors.

    The caller commits. The copies outside the database (the log, the auditors'
    mailboxes) are what make a later rewrite of the whole chain detectable: keep them.
    """
    result = verify()
    problem = result.first_problem
    anchor = AuditAnchor(chain_seq=result.head_seq, row_hash=result.head_hash, verification=result.summary()[:500])
    db.session.add(anchor)
    log.info("audit anchor %s:%s (%s)", result.head_seq, result.head_hash, result.summary())
    auditors = db.session.scalars(
        select(User).where(holders_clause("mail.audit_anchor"), User.is_active_account.is_(True))
    )
    for auditor in auditors:
        notify(
            auditor,
            Notice(
                kind="audit_anchor",
                category="audit_anchor",
                params={
                    "seq": result.head_seq,
                    "hash": result.head_hash,
                    "intact": result.is_intact,
                    # Said in each auditor's language when the notice is drawn (audit_chain.problem_said).
                    "problem": {"kind": problem.kind, "params": problem.params} if problem else "",
                },
                link="/audit",
            ),
        )
    return anchor
