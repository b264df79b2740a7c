"""Who is connecting, and what they may do with a document (PROTOCOL §5).

The seam is :class:`Authenticator`; the composition root picks :class:`OpenAuth` when no
secret is configured (everyone may edit everything).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from collab.errors import Close

Role = Literal["edit", "view"]


def bearer_token(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer ...`` header value, or None."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


class AuthError(Exception):
    """Authentication failed; ``close`` is the WebSocket close code, ``status`` the HTTP one."""

    def __init__(self, message: str, close: Close = Close.UNAUTHORIZED, status: int = 401) -> None:
        super().__init__(message)
        self.close = close
        self.status = status


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated user; all None in open mode."""

    user_id: str | None = None
    name: str | None = None
    expires_at: float | None = None
    grants: tuple[tuple[str, str], ...] = ()  # (document-id glob, "edit" | "view")


class Authenticator(Protocol):
    def authenticate(self, token: str | None) -> Identity:
        """The identity a token proves; raises AuthError."""

    def role(self, identity: Identity, doc_id: str) -> Role | None:
        """What ``identity`` may do with ``doc_id``; None for no access."""


class OpenAuth:
    """Open mode: no tokens, everyone edits everything (a token sent anyway is ignored)."""

    def authenticate(self, token: str | None) -> Identity:
        return Identity()

    def role(self, identity: Identity, doc_id: str) -> Role | None:
        return "edit"
