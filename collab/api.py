"""The HTTP API (PROTOCOL §4): documents, their operation log, history and restore."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from collab.auth import AuthError, Identity, Role, bearer_token
from collab.document import replay
from collab.room import Contention, RoomFault
from collab.services import Services
from collab.store.base import DocumentExists, DocumentNotFound, OpRecord
from collab.wire import DOC_ID
from ot import InvalidOperation
from ot.operation import check_text

router = APIRouter(prefix="/api", tags=["documents"])


# -- schemas -------------------------------------------------------------------------------


class CreateDoc(BaseModel):
    id: str | None = Field(None, description="Document id; generated when absent.")
    text: str = Field("", description="Initial text (revision 0).")


class DocText(BaseModel):
    id: str
    rev: int = Field(description="Current revision.")
    text: str


class DocFull(DocText):
    created_at: datetime
    updated_at: datetime


class DocSummary(BaseModel):
    id: str
    rev: int
    updated_at: datetime


class OpOut(BaseModel):
    rev: int = Field(description="The revision this operation produced.")
    op: list[int | str] = Field(description="Components: retain n, insert s, delete -n.")
    client: str | None
    seq: int | None
    user: dict[str, Any]
    created_at: datetime


class VersionOut(BaseModel):
    rev: int
    kind: Literal["auto", "named", "restore"]
    label: str | None
    author: str | None
    created_at: datetime


class NameVersion(BaseModel):
    label: str = Field(min_length=1, max_length=200)


class RestoreIn(BaseModel):
    rev: int = Field(ge=0, description="The revision whose text becomes current again.")


class RestoreOut(BaseModel):
    rev: int = Field(description="The new current revision.")


# -- dependencies ----------------------------------------------------------------------------


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


Svc = Annotated[Services, Depends(services)]


def identity(request: Request, svc: Svc) -> Identity:
    try:
        return svc.auth.authenticate(bearer_token(request.headers.get("authorization")))
    except AuthError as e:
        raise HTTPException(e.status, str(e)) from None


Ident = Annotated[Identity, Depends(identity)]


def _check_id(doc_id: str) -> None:
    if DOC_ID.fullmatch(doc_id) is None:
        raise HTTPException(400, "document ids match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _require(svc: Services, who: Identity, doc_id: str, need: Role) -> None:
    _check_id(doc_id)
    role = svc.auth.role(who, doc_id)
    if role is None or (need == "edit" and role != "edit"):
        raise HTTPException(403, "no access to this document")


async def _exists(svc: Services, doc_id: str) -> int:
    info = await svc.store.get_document(doc_id)
    if info is None:
        raise HTTPException(404, "no such document")
    return info.rev


def _op_out(rec: OpRecord) -> OpOut:
    return OpOut(
        rev=rec.rev,
        op=rec.op,
        client=rec.client,
        seq=rec.seq,
        user=rec.user,
        created_at=rec.created_at,
    )


def _author(who: Identity) -> dict[str, Any]:
    return {"name": who.name} if who.name else {}


# -- routes --------------------------------------------------------------------------------


@router.post("/docs", status_code=201, summary="Create a document")
async def create_doc(body: CreateDoc, svc: Svc, who: Ident) -> DocText:
    doc_id = body.id if body.id is not None else secrets.token_hex(8)
    _require(svc, who, doc_id, "edit")
    try:
        check_text(body.text)
    except InvalidOperation as e:
        raise HTTPException(400, str(e)) from None
    if len(body.text) > svc.settings.max_doc_chars:
        raise HTTPException(413, f"text over {svc.settings.max_doc_chars} characters")
    try:
        info = await svc.store.create_document(doc_id, body.text)
    except DocumentExists:
        raise HTTPException(409, "a document with this id exists") from None
    return DocText(id=info.id, rev=info.rev, text=body.text)


@router.get("/docs", summary="List documents, paged by id")
async def list_docs(
    svc: Svc,
    who: Ident,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: str | None = None,
) -> list[DocSummary]:
    out: list[DocSummary] = []
    # Filter by grant before counting to ``limit``: keep reading pages until it is met.
    for _ in range(100):
        docs = await svc.store.list_documents(limit, after)
        out += [
            DocSummary(id=d.id, rev=d.rev, updated_at=d.updated_at)
            for d in docs
            if svc.auth.role(who, d.id) is not None
        ]
        if len(out) >= limit or len(docs) < limit:
            break
        after = docs[-1].id
    return out[:limit]


@router.get("/docs/{doc_id}", summary="A document's current text")
async def get_doc(doc_id: str, svc: Svc, who: Ident) -> DocFull:
    _require(svc, who, doc_id, "view")
    room = await svc.rooms.acquire(doc_id, create=False)
    if room is None:
        raise HTTPException(404, "no such document")
    try:
        rev, text = await room.read()
    except DocumentNotFound:
        raise HTTPException(404, "no such document") from None
    except RoomFault:
        raise HTTPException(503, "the store is unavailable; try again") from None
    finally:
        svc.rooms.release(room)
    info = await svc.store.get_document(doc_id)
    if info is None:
        raise HTTPException(404, "no such document")
    return DocFull(
        id=doc_id, rev=rev, text=text, created_at=info.created_at, updated_at=info.updated_at
    )


@router.delete("/docs/{doc_id}", status_code=204, summary="Delete a document")
async def delete_doc(doc_id: str, svc: Svc, who: Ident) -> Response:
    _require(svc, who, doc_id, "edit")
    if not await svc.rooms.delete(doc_id):
        raise HTTPException(404, "no such document")
    return Response(status_code=204)


@router.get("/docs/{doc_id}/ops", summary="Committed operations after a revision")
async def get_ops(
    doc_id: str,
    svc: Svc,
    who: Ident,
    after: int = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OpOut]:
    _require(svc, who, doc_id, "view")
    rev = await _exists(svc, doc_id)
    if after < 0 or after > rev:
        raise HTTPException(400, f"after must be within 0..{rev}")
    return [_op_out(r) for r in await svc.store.get_ops(doc_id, after, limit)]


@router.get("/docs/{doc_id}/revisions/{rev}", summary="The text as it was at a revision")
async def get_revision(doc_id: str, rev: int, svc: Svc, who: Ident) -> DocText:
    _require(svc, who, doc_id, "view")
    current = await _exists(svc, doc_id)
    if rev < 0 or rev > current:
        raise HTTPException(404, f"revision {rev} does not exist (current is {current})")
    snap = await svc.store.nearest_snapshot(doc_id, rev)
    if snap is None:  # pragma: no cover - revision 0 always has a snapshot
        raise HTTPException(500, "no snapshot")
    records = await svc.store.get_ops(doc_id, snap.rev, rev - snap.rev) if snap.rev < rev else []
    return DocText(id=doc_id, rev=rev, text=replay(snap.text, records))


@router.get("/docs/{doc_id}/versions", summary="Saved versions, newest first")
async def list_versions(doc_id: str, svc: Svc, who: Ident) -> list[VersionOut]:
    _require(svc, who, doc_id, "view")
    await _exists(svc, doc_id)
    return [
        VersionOut(rev=v.rev, kind=v.kind, label=v.label, author=v.author, created_at=v.created_at)
        for v in await svc.store.list_versions(doc_id)
    ]


@router.post("/docs/{doc_id}/versions", status_code=201, summary="Name the current revision")
async def name_version(doc_id: str, body: NameVersion, svc: Svc, who: Ident) -> VersionOut:
    _require(svc, who, doc_id, "edit")
    rev = await _exists(svc, doc_id)
    v = await svc.store.add_version(doc_id, rev, "named", body.label, who.name or who.user_id)
    return VersionOut(
        rev=v.rev, kind=v.kind, label=v.label, author=v.author, created_at=v.created_at
    )


@router.post("/docs/{doc_id}/restore", summary="Bring back the text of an earlier revision")
async def restore(doc_id: str, body: RestoreIn, svc: Svc, who: Ident) -> RestoreOut:
    _require(svc, who, doc_id, "edit")
    current = await _exists(svc, doc_id)
    if body.rev > current:
        raise HTTPException(400, f"rev must be within 0..{current}")
    room = await svc.rooms.acquire(doc_id, create=False)
    if room is None:
        raise HTTPException(404, "no such document")
    try:
        return RestoreOut(rev=await room.restore(body.rev, _author(who), who.user_id))
    except DocumentNotFound:
        raise HTTPException(404, "no such document") from None
    except (RoomFault, Contention) as e:
        raise HTTPException(503, f"{e}; nothing was restored, try again") from None
    finally:
        svc.rooms.release(room)
