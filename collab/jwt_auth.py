"""HS256 JWT authentication with per-document glob grants (PROTOCOL §5).

A token carries ``sub`` (user id), ``name``, ``exp`` and ``docs``: an object from document-id
glob pattern to ``"edit"`` or ``"view"``. The highest grant among matching patterns wins; no
match means no access.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import jwt

from collab.auth import AuthError, Identity, Role

_RANK = {"view": 1, "edit": 2}


class JwtAuth:
    """Tokens signed with a shared secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def authenticate(self, token: str | None) -> Identity:
        if not token:
            raise AuthError("a token is required")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except Exception:
            # Never echo the token or the library's message (it may quote the token). Any
            # failure, not only PyJWTError (a lone surrogate fails to encode), is a bad token.
            raise AuthError("the token is not valid") from None
        docs = claims.get("docs")
        if not isinstance(docs, dict) or not all(
            isinstance(k, str) and v in _RANK for k, v in docs.items()
        ):
            raise AuthError("the token's 'docs' claim is malformed")
        name = claims.get("name")
        if not isinstance(name, str) or not name:
            name = str(claims["sub"])
        ident = Identity(
            user_id=str(claims["sub"]),
            name=name[:64],
            expires_at=float(claims["exp"]),
            grants=tuple(docs.items()),
        )
        return ident

    def role(self, identity: Identity, doc_id: str) -> Role | None:
        best = 0
        for pattern, grant in identity.grants:
            if fnmatchcase(doc_id, pattern):
                best = max(best, _RANK[grant])
        if best == 0:
            return None
        return "edit" if best == 2 else "view"


def mint(secret: str, user: str, name: str, docs: dict[str, str], ttl: float = 3600) -> str:
    """A token for local use (``collab token``)."""
    import time

    claims = {"sub": user, "name": name, "docs": docs, "exp": int(time.time() + ttl)}
    return jwt.encode(claims, secret, algorithm="HS256")
