"""Checking the digital signatures of an agreement's signed copies, and keeping the result."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core import audit
from app.core.local_copy import local_copy
from app.core.models import utcnow
from app.extensions import db
from app.signatures.models import SignatureCheck
from app.signatures.validate import validate

STATUS_LABELS = {
    "none": _l("No digital signature"),
    "valid": _l("Digital signature valid"),
    "untrusted": _l("Signature intact, signer not trusted"),
    "invalid": _l("Digital signature not valid"),
    "unreadable": _l("The file could not be read as a PDF"),
}
COVERAGE_LABELS = {
    "entire_file": _l("The signature covers the whole document."),
    "entire_revision": _l("Content was added after signing."),
    "contiguous_block_from_start": _l("The signature covers only part of the document."),
    "unclear": _l("The signature covers only part of the document."),
    "unknown": _l("What the signature covers could not be determined."),
}
MODIFICATION_LABELS = {
    "none": None,
    "lta_updates": _l("Added after signing: validation data and time stamps (allowed)."),
    "form_filling": _l("Added after signing: form fields filled in or further signatures (allowed)."),
    "annotations": _l("Added after signing: comments or annotations (allowed)."),
    "other": _l("The document was modified after signing."),
}
REVOCATION_LABELS = {
    "not_checked": _l("Revocation not checked."),
    "checked": _l("Revocation checked where the servers could be reached."),
    "revoked": _l("The signer's certificate is revoked."),
}


def check_signatures(document, *, by) -> SignatureCheck:
    """Validate the digital signatures of one signed copy now and keep the result (replacing an older one)."""
    config = current_app.config
    if document.stored_file.content_type != "application/pdf":
        status, signatures = "none", []
    else:
        with local_copy(document.stored_file.sha256) as path:
            result = validate(
                path,
                trust_root_paths=config.get("SIGNATURE_TRUST_ROOTS", ()),
                check_revocation=config.get("SIGNATURE_CHECK_REVOCATION", False),
            )
        status, signatures = result.status, result.signatures
    check = db.session.scalar(select(SignatureCheck).where(SignatureCheck.document_id == document.id))
    if check is None:
        check = SignatureCheck(document_id=document.id)
        db.session.add(check)
    check.status, check.signatures = status, signatures
    check.checked_at, check.checked_by_id = utcnow(), getattr(by, "id", None)
    db.session.flush()
    from app.agreements.models import Agreement

    audit.record(
        "signature_checked",
        db.session.get(Agreement, document.agreement_id),
        actor=by,
        changes={
            "document": document.original_name,
            "sha256": document.sha256,
            "status": status,
            "signers": [s.get("signer") for s in signatures],
        },
    )
    return check


def checks_for(agreement) -> dict[int, SignatureCheck]:
    """The stored checks of an agreement's documents, by document id (one query)."""
    from app.workflow.models import AgreementDocument

    rows = db.session.scalars(
        select(SignatureCheck).join(AgreementDocument).where(AgreementDocument.agreement_id == agreement.id)
    ).all()
    return {row.document_id: row for row in rows}


def describe(signature: dict) -> list[str]:
    """The sentences that explain one signature's result, in the reader's language."""
    lines = []
    if not signature.get("intact"):
        lines.append(str(_l("The signature does not match the document: it was altered or the signature is broken.")))
    coverage = COVERAGE_LABELS.get(signature.get("coverage") or "unknown")
    if coverage and signature.get("intact"):
        lines.append(str(coverage))
    modification = MODIFICATION_LABELS.get(signature.get("modification") or "none")
    if modification:
        lines.append(str(modification))
    if signature.get("intact"):
        lines.append(
            str(
                _l("Certificate chain trusted.")
                if signature.get("trusted")
                else _l("The certificate chain does not lead to a trust root configured by the ministry.")
            )
        )
    lines.append(str(REVOCATION_LABELS.get(signature.get("revocation"), REVOCATION_LABELS["not_checked"])))
    return lines
