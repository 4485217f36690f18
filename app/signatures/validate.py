"""Check the PAdES/PDF digital signatures of a file with pyHanko.

Plain values out: a status for the file and one dictionary per signature, stored as JSON
and shown on the signature panel, the printable summary and the API. The trust roots
are the PEM files in SIGNATURE_TRUST_ROOTS; nothing else is trusted (not the
operating system's store). Revocation is asked of OCSP/CRL servers only when
SIGNATURE_CHECK_REVOCATION is on and the chain reaches a configured root (nothing is fetched
for a certificate nobody vouches for), and then in soft-fail mode: an unreachable server
is reported, not taken for a revoked certificate.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

# Past this many signatures, a file is a trap more than an agreement.
MAX_SIGNATURES = 20


@dataclass
class Result:
    status: str  # none | valid | untrusted | invalid | unreadable
    signatures: list[dict] = field(default_factory=list)


def load_trust_roots(paths) -> tuple[list, list[str]]:
    """The certificates in the PEM files, and the problems met reading them (a missing file, say)."""
    from pyhanko.keys import load_certs_from_pemder

    roots, problems = [], []
    for path in paths:
        try:
            roots.extend(load_certs_from_pemder([str(path)]))
        except Exception as error:  # noqa: BLE001 - a broken configured file is reported, not fatal
            problems.append(f"{path}: {error.__class__.__name__}")
    return roots, problems


# The trust-root problems this process has logged: each once, not at every signature checked.
def missing_trust_roots(paths) -> list[str]:
    """The problems of the configured files that are not there to read, found without reading them (at the
    start: pyhanko, which reads them, is loaded at the first signed copy checked)."""
    return [f"{path}: not a file that can be read" for path in paths if not _readable(path)]


def _readable(path) -> bool:
    return Path(path).is_file() and os.access(path, os.R_OK)


_reported_problems: set[str] = set()


def report_trust_root_problems(problems: list[str]) -> None:
    """Log each problem with SIGNATURE_TRUST_ROOTS once per process, as a WARNING: a file that cannot be read
    is left out, not fatal, and its signers' signatures then read "untrusted", which nothing else explains."""
    for problem in problems:
        if problem not in _reported_problems:
            _reported_problems.add(problem)
            logger.warning("SIGNATURE_TRUST_ROOTS: %s; its certificates are not trusted until it is mended", problem)


def validate(path: Path, *, trust_root_paths=(), check_revocation: bool = False) -> Result:
    """Validate every signature in the PDF at `path`."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        with path.open("rb") as handle:
            if handle.read(5) != b"%PDF-":
                return Result("unreadable")
            handle.seek(0)
            reader = PdfFileReader(handle, strict=False)
            embedded = list(reader.embedded_signatures)
            if not embedded:
                return Result("none")
            roots, problems = load_trust_roots(trust_root_paths)
            report_trust_root_problems(problems)
            signatures = [_check(signature, roots, check_revocation) for signature in embedded[:MAX_SIGNATURES]]
    except Exception:  # noqa: BLE001 - a damaged PDF is "unreadable", never a server error
        logger.info("signature check could not read %s", path.name, exc_info=True)
        return Result("unreadable")
    if any(not s["intact"] or not s["unchanged"] for s in signatures):
        status = "invalid"
    elif all(s["trusted"] for s in signatures):
        status = "valid"
    else:
        status = "untrusted"
    return Result(status, signatures)


def _outside_any_event_loop(function, *args):
    """pyHanko's synchronous calls start their own event loop (asyncio.run), which cannot start
    inside a running one (an async server, a test harness): then the call runs in a thread of its own."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


# Seconds one revocation server (OCSP, CRL) may take to answer.
FETCH_TIMEOUT = 3


def _context(roots, *, fetching: bool):
    from pyhanko_certvalidator import ValidationContext

    if not fetching:
        return ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
    from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

    return ValidationContext(
        trust_roots=roots,
        allow_fetching=True,
        revocation_mode="soft-fail",
        fetcher_backend=RequestsFetcherBackend(per_request_timeout=FETCH_TIMEOUT),
    )


def _check(embedded, roots, check_revocation: bool) -> dict:
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError

    # Nothing is fetched for a chain the configured roots do not vouch for: a certificate names any address
    # it likes (its issuer's, its OCSP and CRL servers'), and the web worker had asked one chosen by whoever
    # made the file, inside the ministry's network. A chain that reaches a root is then checked again with
    # its revocation servers asked, each for at most FETCH_TIMEOUT seconds.
    context = _context(roots, fetching=False)
    info = {
        "field": embedded.field_name,
        "signer": None,
        "signed_at": None,
        "intact": False,
        "unchanged": False,
        "coverage": "unknown",
        "modification": None,
        "trusted": False,
        "revocation": "not_checked",
        "problem": None,
    }
    try:
        status = _outside_any_event_loop(validate_pdf_signature, embedded, context)
        if check_revocation and status.trusted:
            status = _outside_any_event_loop(validate_pdf_signature, embedded, _context(roots, fetching=True))
    except (SignatureValidationError, ValueError, KeyError, TypeError) as error:
        info["problem"] = error.__class__.__name__
        return info
    certificate = status.signing_cert
    info["signer"] = certificate.subject.native.get("common_name") or certificate.subject.human_friendly
    info["issuer"] = certificate.issuer.native.get("common_name") or certificate.issuer.human_friendly
    timestamp = status.timestamp_validity
    moment = timestamp.timestamp if timestamp is not None else status.signer_reported_dt
    info["signed_at"] = moment.isoformat() if moment else None
    info["timestamped"] = timestamp is not None
    info["intact"] = bool(status.intact and status.valid)
    info["coverage"] = status.coverage.name.lower() if status.coverage is not None else "unknown"
    level = status.modification_level
    info["modification"] = level.name.lower() if level is not None else None
    # Whole file signed, or only allowed additions after it (more signatures, form filling, annotations).
    info["unchanged"] = bool(status.docmdp_ok) and info["coverage"] in ("entire_file", "entire_revision")
    info["trusted"] = bool(status.trusted)
    if getattr(status, "revoked", False):
        info["revocation"] = "revoked"
        info["trusted"] = False
    elif check_revocation and status.trusted:
        info["revocation"] = "checked"
    return info
