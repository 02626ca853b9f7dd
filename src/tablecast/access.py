"""Who may change a document: edit keys. No I/O.

Creating a document makes a random edit key. The creator gets it once (in an edit link,
``/parser/share/{id}#key=...``: a URL fragment never reaches a server log or a Referer); the
store keeps only its SHA-256. A key has 192 random bits, so a plain hash (no salt, no slow
hash) is enough: there is no dictionary to try, and a stolen database yields no key. Keys are
compared in constant time.

Documents made before edit keys existed have no key hash, and stay editable by anyone with
the link, as they were when they were shared.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .errors import TablecastError

KEY_BYTES = 24  # 192 bits; 32 characters of URL-safe base64


def new_key() -> tuple[str, bytes]:
    """A fresh edit key and the hash the store keeps of it. Never one starting with "-": on a
    command line (``tablecast upload --key KEY``) that would read as an option."""
    key = secrets.token_urlsafe(KEY_BYTES)
    while key.startswith("-"):
        key = secrets.token_urlsafe(KEY_BYTES)
    return key, key_hash(key)


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_matches(presented: str | None, stored: bytes | None) -> bool:
    """Does ``presented`` open a document whose key hash is ``stored``? (None: no key kept.)"""
    if stored is None:
        return True
    if not presented:
        return False
    return hmac.compare_digest(key_hash(presented), stored)


def check_key(presented: str, stored: bytes | None) -> None:
    """Raise ``wrong_edit_key`` unless ``presented`` opens the document."""
    if not key_matches(presented, stored):
        raise TablecastError("wrong_edit_key", "this edit key does not open the table")


def anyone_may_edit(stored: bytes | None, open_edit: bool) -> bool:
    """No key needed: ``--open-edit``, or a document made before edit keys (none stored)."""
    return open_edit or stored is None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
