"""The one digest under which secrets handed to people are stored.

Session keys, reset and invitation links, address-change links, recovery codes and API tokens are kept
only as this digest: a stolen database gives none of them back, and a lookup compares digests. A reset link
also keeps this digest of the account's password hash (`resets.fingerprint`): not a secret handed to anyone,
only a short, fixed-width mark that the password changed since the link was sent.
"""

from __future__ import annotations

import hashlib


def secret_digest(secret: str) -> str:
    """SHA-256 of the secret, in hex (64 characters, the width of every `*_hash` column that holds one).

    "surrogatepass" because a secret comes from a URL or a form as typed: a lone surrogate is still a
    (wrong) secret to look up, not an error.
    """
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
