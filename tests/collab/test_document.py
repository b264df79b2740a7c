"""The document core with plain values: no event loop, no store, no sockets.

The laws: after any sequence of prepare / rollback / confirm / integrate, the committed text
equals the replay of the committed records; the tentative batch never shows in the committed
text; a duplicate is always answered with its original revision; every read the document
asks for is a need, never a guess.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collab.document import (
    Accepted,
    Behind,
    Document,
    Duplicate,
    NeedLastSeq,
    NeedOps,
    NeedSeqRev,
    Refused,
    Submission,
    diff,
    replay,
)
from collab.errors import ErrorCode
from collab.store.base import DocInfo, LoadedDocument, NewOp, OpRecord, Snapshot
from ot import LengthMismatch, TextOperation

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(new: NewOp) -> OpRecord:
    return OpRecord(new.rev, list(new.op), new.client, new.seq, dict(new.user), new.user_id, T0)


def insert_at(text_len: int, pos: int, s: str) -> TextOperation:
    return TextOperation().retain(pos).insert(s).retain(text_len - pos)


def sub(client: str, rev: int, seq: int, op: TextOperation) -> Submission:
    return Submission(client, rev, seq, op, {"name": client})


def commit(doc: Document) -> list[OpRecord]:
    """What a store would do with the tentative batch."""
    records = [record(n) for n in doc.tentative()]
    doc.confirm(records)
    return records


def known(doc: Document, *clients: str) -> Document:
    for c in clients:
        doc.learn_last_seq(c, 0)
    return doc


# -- examples -------------------------------------------------------------------------------


def test_accepted_op_is_tentative_until_confirmed() -> None:
    doc = known(Document("abc"), "a")
    out = doc.prepare(sub("a", 0, 1, insert_at(3, 3, "!")))
    assert isinstance(out, Accepted) and out.new.rev == 1
    assert str(doc.text) == "abc" and doc.rev == 0 and doc.tentative_rev == 1
    commit(doc)
    assert str(doc.text) == "abc!" and doc.rev == 1 and doc.last_seq("a") == 1


def test_rollback_leaves_the_committed_state() -> None:
    doc = known(Document("abc"), "a", "b")
    assert isinstance(doc.prepare(sub("a", 0, 1, insert_at(3, 0, "x"))), Accepted)
    assert isinstance(doc.prepare(sub("b", 0, 1, insert_at(3, 3, "y"))), Accepted)
    doc.rollback()
    assert str(doc.text) == "abc" and doc.rev == 0 and doc.tentative() == []
    # The seqs accepted tentatively are not taken as committed.
    assert doc.last_seq("a") == 0
    assert isinstance(doc.prepare(sub("a", 0, 1, insert_at(3, 0, "x"))), Accepted)


def test_ops_in_one_batch_are_rebased_on_each_other() -> None:
    doc = known(Document("ab"), "a", "b")
    doc.prepare(sub("a", 0, 1, insert_at(2, 0, "X")))
    out = doc.prepare(sub("b", 0, 1, insert_at(2, 2, "Y")))
    assert isinstance(out, Accepted) and out.new.rev == 2
    commit(doc)
    assert str(doc.text) == "XabY"


def test_unknown_client_needs_its_last_seq_from_the_store() -> None:
    doc = Document("")
    op = insert_at(0, 0, "x")
    assert doc.prepare(sub("a", 0, 3, op)) == NeedLastSeq("a")
    doc.learn_last_seq("a", 2)
    assert isinstance(doc.prepare(sub("a", 0, 3, op)), Accepted)


def test_seq_skipping_ahead_is_checked_against_the_store_once() -> None:
    doc = known(Document(""), "a")
    doc.rollback()  # a new batch: what was read for the last one may be stale
    op = insert_at(0, 0, "x")
    assert doc.prepare(sub("a", 0, 5, op)) == NeedLastSeq("a")
    doc.learn_last_seq("a", 0)
    out = doc.prepare(sub("a", 0, 5, op))
    assert isinstance(out, Refused) and out.error.code == ErrorCode.BAD_SEQ


def test_duplicate_answers_with_the_original_revision() -> None:
    doc = known(Document(""), "a", "b")
    doc.prepare(sub("b", 0, 1, insert_at(0, 0, "b")))
    doc.prepare(sub("a", 0, 1, insert_at(0, 0, "a")))
    commit(doc)
    assert doc.prepare(sub("a", 0, 1, insert_at(0, 0, "a"))) == Duplicate(2)
    # In the same batch as its original: the tentative revision.
    doc.prepare(sub("a", 2, 2, insert_at(2, 0, "z")))
    assert doc.prepare(sub("a", 2, 2, insert_at(2, 0, "z"))) == Duplicate(3)


def test_duplicate_outside_the_window_is_looked_up() -> None:
    doc = Document("", 10)
    doc.learn_last_seq("a", 4)
    op = insert_at(0, 0, "x")
    assert doc.prepare(sub("a", 10, 3, op)) == NeedSeqRev("a", 3)
    doc.learn_seq_rev("a", 3, 7)
    assert doc.prepare(sub("a", 10, 3, op)) == Duplicate(7)


def test_duplicate_committed_elsewhere_and_not_yet_integrated_is_behind() -> None:
    doc = Document("", 10)
    doc.learn_last_seq("a", 4)
    doc.learn_seq_rev("a", 4, 12)
    assert doc.prepare(sub("a", 10, 4, insert_at(0, 0, "x"))) == Behind()


def test_a_seq_the_store_never_committed_is_refused_and_forgotten() -> None:
    doc = Document("", 10)
    doc.learn_last_seq("a", 4)
    doc.learn_seq_rev("a", 3, None)
    out = doc.prepare(sub("a", 10, 3, insert_at(0, 0, "x")))
    assert isinstance(out, Refused) and out.error.code == ErrorCode.BAD_SEQ
    assert doc.last_seq("a") is None  # asked again next time


@pytest.mark.parametrize("rev", [-1, 3])
def test_rev_outside_the_history_is_bad_rev(rev: int) -> None:
    doc = known(Document("ab", 2), "a")
    out = doc.prepare(sub("a", rev, 1, insert_at(2, 0, "x")))
    assert isinstance(out, Refused) and out.error.code == ErrorCode.BAD_REV


def test_rev_behind_the_catch_up_limit_is_bad_rev_without_a_read() -> None:
    doc = known(Document("", 0, catch_up_limit=3, window=2), "a", "w")
    for i in range(6):
        doc.prepare(sub("w", i, i + 1, insert_at(i, i, "w")))
        commit(doc)
    out = doc.prepare(sub("a", 2, 1, insert_at(2, 0, "x")))
    assert isinstance(out, Refused) and out.error.code == ErrorCode.BAD_REV
    assert "reload" in out.error.message


def test_rev_older_than_the_window_within_the_limit_is_backfilled() -> None:
    log: list[OpRecord] = []
    doc = known(Document("", 0, catch_up_limit=100, window=2), "a", "w")
    for i in range(8):
        doc.prepare(sub("w", i, i + 1, insert_at(i, i, "w")))
        log += commit(doc)
    out = doc.prepare(sub("a", 3, 1, insert_at(3, 0, "x")))
    assert isinstance(out, NeedOps) and out.after == 3
    doc.backfill(log[out.after : out.after + out.count])
    out = doc.prepare(sub("a", 3, 1, insert_at(3, 0, "x")))
    assert isinstance(out, Accepted)
    commit(doc)
    assert str(doc.text) == "x" + "w" * 8


def test_welcome_catch_up_within_window_after_backfill_or_text() -> None:
    log: list[OpRecord] = []
    doc = known(Document("", 0, catch_up_limit=5, window=2), "w")
    for i in range(8):
        doc.prepare(sub("w", i, i + 1, insert_at(i, i, "w")))
        log += commit(doc)
    assert doc.catch_up(8) == []
    assert doc.catch_up(7) == log[7:]
    need = doc.catch_up(4)
    assert isinstance(need, NeedOps)
    doc.backfill(log[need.after : need.after + need.count])
    assert doc.catch_up(4) == log[4:]
    assert doc.catch_up(2) is None  # more than 5 behind: the text
    assert doc.catch_up(9) is None


def test_bad_op_does_not_fit() -> None:
    doc = known(Document("ab"), "a")
    out = doc.prepare(sub("a", 0, 1, insert_at(5, 0, "x")))
    assert isinstance(out, Refused) and out.error.code == ErrorCode.BAD_OP


def test_too_large() -> None:
    doc = known(Document("ab", max_chars=3), "a")
    out = doc.prepare(sub("a", 0, 1, insert_at(2, 0, "xy")))
    assert isinstance(out, Refused) and out.error.code == ErrorCode.TOO_LARGE


def test_integrate_refuses_a_gap_or_a_misfit_and_changes_nothing() -> None:
    doc = Document("ab", 3)
    with pytest.raises(ValueError):
        doc.integrate(OpRecord(5, ["x", 2], "c", 1, {}, None, T0))
    with pytest.raises(LengthMismatch):
        doc.integrate(OpRecord(4, ["x", 7], "c", 1, {}, None, T0))
    assert (str(doc.text), doc.rev) == ("ab", 3)


def test_remote_record_cannot_overtake_a_tentative_batch() -> None:
    doc = known(Document("ab"), "a")
    doc.prepare(sub("a", 0, 1, insert_at(2, 0, "x")))
    with pytest.raises(ValueError):
        doc.integrate(OpRecord(1, ["y", 2], "c", 1, {}, None, T0))


def test_confirm_checks_the_records_are_the_batch() -> None:
    doc = known(Document("ab"), "a")
    doc.prepare(sub("a", 0, 1, insert_at(2, 0, "x")))
    with pytest.raises(ValueError):
        doc.confirm([OpRecord(1, ["x", 2], "other", 1, {}, None, T0)])
    assert doc.rev == 0 and doc.tentative() == []


def test_propose_a_restore() -> None:
    doc = known(Document("hello"), "a")
    new = doc.propose(diff("hello", "help"), {"name": "r"}, None)
    assert new.client is None and new.rev == 1
    commit(doc)
    assert str(doc.text) == "help"
    with pytest.raises(LengthMismatch):
        doc.propose(insert_at(9, 0, "x"), {}, None)


def test_from_loaded_replays_the_tail() -> None:
    info = DocInfo("d", 2, T0, T0)
    tail = [OpRecord(2, [1, "b"], "c", 1, {}, None, T0)]
    doc = Document.from_loaded(LoadedDocument(info, Snapshot(1, "a"), tail))
    assert (str(doc.text), doc.rev, doc.last_seq("c")) == ("ab", 2, 1)


# -- properties -----------------------------------------------------------------------------

CLIENTS = ["a", "b", "c"]


@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Steps: ("sub", (client, back, pos_frac, text, resend)), ("commit",), ("rollback",),
    ("remote", (pos_frac, text))."""
    steps: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["sub", "sub", "sub", "commit", "rollback", "remote"]))
        if kind == "sub":
            steps.append(
                (
                    kind,
                    (
                        draw(st.sampled_from(CLIENTS)),
                        draw(st.integers(0, 4)),
                        draw(st.floats(0, 1)),
                        draw(st.text("xy😀é", min_size=0, max_size=3)),
                        draw(st.booleans()),
                    ),
                )
            )
        elif kind == "remote":
            steps.append(
                (kind, (draw(st.floats(0, 1)), draw(st.text("RS", min_size=1, max_size=2))))
            )
        else:
            steps.append((kind, None))
    return steps


def _resend_from_last_ack(
    next_seq: dict[str, int],
    sent: dict[tuple[str, int], Submission],
    acked: dict[tuple[str, int], int],
) -> None:
    """After a rollback, clients send their unacknowledged work again from the last ack."""
    for c in CLIENTS:
        done = [s for (cc, s) in acked if cc == c]
        next_seq[c] = max(done, default=0) + 1
        for k in [k for k in sent if k[0] == c and k not in acked]:
            del sent[k]


@given(scripts(), st.integers(1, 6))
def test_committed_text_is_the_replay_of_committed_records(
    script: list[tuple[str, Any]], window: int
) -> None:
    doc = Document("start", window=window, catch_up_limit=1000)
    log: list[OpRecord] = []  # the "store"
    texts = ["start"]  # text at each revision
    next_seq = dict.fromkeys(CLIENTS, 1)
    sent: dict[tuple[str, int], Submission] = {}
    acked: dict[tuple[str, int], int] = {}
    remote_seq = 0
    for kind, arg in script:
        if kind == "sub":
            client, back, frac, s, resend = arg
            if resend and any(k[0] == client for k in sent):
                key = max(k for k in sent if k[0] == client)
                submission = sent[key]
            else:
                base = max(0, doc.rev - back)
                length = len(texts[base])
                op = (
                    insert_at(length, int(frac * length), s)
                    if s
                    else (
                        TextOperation().retain(length).delete(0)
                        if length == 0
                        else TextOperation().delete(1).retain(length - 1)
                    )
                )
                submission = sub(client, base, next_seq[client], op)
            for _ in range(5):
                out = doc.prepare(submission)
                if isinstance(out, NeedLastSeq):
                    seqs = [r.seq for r in log if r.client == out.client and r.seq is not None]
                    doc.learn_last_seq(out.client, max(seqs, default=0))
                elif isinstance(out, NeedSeqRev):
                    revs = [r.rev for r in log if (r.client, r.seq) == (out.client, out.seq)]
                    doc.learn_seq_rev(out.client, out.seq, revs[0] if revs else None)
                elif isinstance(out, NeedOps):
                    doc.backfill(log[out.after : out.after + out.count])
                else:
                    break
            assert not isinstance(out, Behind | NeedLastSeq | NeedSeqRev | NeedOps)
            key = (client, submission.seq)
            if isinstance(out, Accepted):
                sent[key] = submission
                next_seq[client] = max(next_seq[client], submission.seq + 1)
            elif isinstance(out, Duplicate):
                # Always the revision the original got (tentative or committed).
                if key in acked:
                    assert out.rev == acked[key]
                else:
                    assert out.rev in [n.rev for n in doc.tentative() if (n.client, n.seq) == key]
            else:  # every submission fits its base text and follows its client's seqs
                raise AssertionError(f"refused {submission}: {out.error.message}")
        elif kind == "commit":
            batch = doc.tentative()
            records = [record(n) for n in batch]
            doc.confirm(records)
            for r in records:
                log.append(r)
                texts.append(TextOperation.from_json(r.op).apply(texts[-1]))
                if r.client is not None and r.seq is not None:
                    acked[(r.client, r.seq)] = r.rev
        elif kind == "rollback":
            doc.rollback()
            _resend_from_last_ack(next_seq, sent, acked)
        else:  # another process commits
            doc.rollback()
            _resend_from_last_ack(next_seq, sent, acked)
            frac, s = arg
            remote_seq += 1
            length = len(texts[-1])
            op = insert_at(length, int(frac * length), s)
            rec = OpRecord(doc.rev + 1, op.to_json(), "remote", remote_seq, {}, None, T0)
            doc.integrate(rec)
            log.append(rec)
            texts.append(op.apply(texts[-1]))
        # The committed text is always the replay of the log; the tentative batch never shows.
        assert doc.rev == len(log)
        assert str(doc.text) == replay("start", log) == texts[-1]


@given(st.text("ab😀\n", max_size=30), st.text("ab😀\n", max_size=30))
def test_diff_turns_one_text_into_the_other(old: str, new: str) -> None:
    op = diff(old, new)
    assert op.apply(old) == new
    # Minimal around one change: keeps the common prefix and suffix.
    assert op.base_length == len(old)
