"""The embedded spool: durable store, atomic claim with lease, requeue, recovery."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest

from deidnode.spool import Item, Spool, SpoolFullError, State

CT = "1.2.840.10008.5.1.4.1.1.2"
ELE = "1.2.840.10008.1.2.1"


def _store(spool: Spool, data: bytes = b"DICM-bytes") -> int:
    return spool.store(data, calling_aet="MODALITY", sop_class=CT, transfer_syntax=ELE)


def test_store_writes_file_and_commits_received_row(tmp_path):
    spool = Spool(tmp_path)
    row = _store(spool, b"abc")
    db = sqlite3.connect(tmp_path / "spool.sqlite3")
    state, name, size = db.execute("SELECT state, file, size FROM items WHERE id = ?", (row,)).fetchone()
    assert state == State.RECEIVED and size == 3
    assert (tmp_path / "data" / name).read_bytes() == b"abc"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_database_is_wal_with_full_sync(tmp_path):
    spool = Spool(tmp_path)
    assert spool._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert spool._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_store_refuses_when_below_min_free_bytes(tmp_path):
    spool = Spool(tmp_path, min_free_bytes=1 << 62)
    with pytest.raises(SpoolFullError):
        _store(spool)
    assert spool.depth()[State.RECEIVED] == 0
    assert list((tmp_path / "data").iterdir()) == []


def test_store_failure_leaves_no_row_and_no_file(tmp_path, monkeypatch):
    spool = Spool(tmp_path)

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        _store(spool)
    monkeypatch.undo()
    assert spool.depth()[State.RECEIVED] == 0
    assert list((tmp_path / "data").iterdir()) == []


def test_a_write_error_is_held_until_commit_and_leaves_nothing(tmp_path, monkeypatch):
    """The receiver keeps reading the message off the network after a failed write, then answers A7xx."""
    spool = Spool(tmp_path)
    writer = spool.open_writer(calling_aet="MODALITY", sop_class=CT, transfer_syntax=ELE)

    def full_disk(fd: int, buffers: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "writev", full_disk)
    writer.write(b"x" * (5 << 20))  # over the flush threshold: the error happens here and is kept
    writer.write(b"more")
    monkeypatch.undo()
    with pytest.raises(OSError) as e:
        writer.commit()
    assert e.value.errno == 28
    assert spool.depth()[State.RECEIVED] == 0 and list((tmp_path / "data").iterdir()) == []


def test_a_large_instance_streamed_in_pieces_is_written_whole(tmp_path):
    spool = Spool(tmp_path)
    data = os.urandom(9 << 20)
    writer = spool.open_writer(calling_aet="MODALITY", sop_class=CT, transfer_syntax=ELE)
    view = memoryview(data)
    for i in range(0, len(data), 16378):  # PDV-sized pieces, several writev flushes
        writer.write(view[i : i + 16378])
    row = writer.commit()
    (item,) = spool.claim_many("w", 5)
    assert item.id == row and item.size == len(data) and spool.read(item) == data


def test_claim_leases_each_item_to_exactly_one_owner(tmp_path):
    spool = Spool(tmp_path)
    ids = {_store(spool) for _ in range(40)}
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        s = Spool(tmp_path)
        while (item := s.claim(f"w{n}")) is not None:
            with lock:
                claimed.append(item.id)
        s.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(claimed) == sorted(ids)
    assert spool.depth()[State.CLAIMED] == 40


def test_claim_skips_items_not_yet_due(tmp_path):
    spool = Spool(tmp_path)
    _store(spool)
    item = spool.claim("w")
    assert spool.mark_retry(item, "w", delay=60, pending=["pacs"], code="destination_unreachable")
    assert spool.claim("w") is None
    later = spool.claim("w", now=item.received_at + 120)
    assert later is not None and later.pending == ("pacs",) and later.attempts == 1


def test_finish_requires_the_current_lease(tmp_path):
    spool = Spool(tmp_path)
    _store(spool)
    item = spool.claim("a")
    spool.requeue(owners=["a"])
    again = spool.claim("b")
    assert again.id == item.id
    assert not spool.mark_forwarded(item, "a")
    assert spool.file_path(item).exists()
    assert spool.mark_forwarded(again, "b")
    assert not spool.file_path(item).exists()
    assert spool.depth()[State.FORWARDED] == 1


def test_expired_leases_are_requeued(tmp_path):
    spool = Spool(tmp_path, lease_seconds=10)
    _store(spool)
    item = spool.claim("w")
    assert spool.requeue(expired_before=item.received_at + 1) == 0
    assert spool.requeue(expired_before=item.received_at + 3600) == 1
    assert spool.depth()[State.RECEIVED] == 1


def test_recover_requeues_claims_and_removes_unacknowledged_files(tmp_path):
    spool = Spool(tmp_path)
    _store(spool)
    _store(spool)
    spool.claim("dead-worker")
    (tmp_path / "tmp" / "half-written").write_bytes(b"x")
    (tmp_path / "data" / "never-committed.dcm").write_bytes(b"x")
    spool.close()
    spool = Spool(tmp_path)
    report = spool.recover()
    assert report == {"requeued": 1, "tmp_removed": 1, "orphans_removed": 1}
    assert spool.depth()[State.RECEIVED] == 2
    assert len(list((tmp_path / "data").iterdir())) == 2


def test_release_returns_item_unchanged(tmp_path):
    spool = Spool(tmp_path)
    _store(spool)
    item = spool.claim("w")
    assert spool.release(item, "w")
    assert spool.claim("w2").id == item.id


def test_prune_deletes_only_finished_rows(tmp_path):
    spool = Spool(tmp_path)
    _store(spool)
    _store(spool)
    spool.mark_forwarded(spool.claim("w"), "w")
    assert spool.prune(older_than=1e12) == 1
    assert sum(spool.depth().values()) == 1


def test_concurrent_stores_are_group_committed_without_loss(tmp_path):
    spool = Spool(tmp_path)
    ids: list[int] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        for i in range(20):
            row = _store(spool, b"%d-%d" % (n, i))
            with lock:
                ids.append(row)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(ids) == len(set(ids)) == 160
    items = spool.claim_many("w", 500)
    assert sorted(i.id for i in items) == sorted(ids)
    assert sorted(spool.read(i) for i in items) == sorted(b"%d-%d" % (n, i) for n in range(8) for i in range(20))


def test_claim_many_leases_in_id_order_up_to_limit(tmp_path):
    spool = Spool(tmp_path)
    rows = [_store(spool) for _ in range(5)]
    assert [i.id for i in spool.claim_many("w", 3)] == rows[:3]
    assert [i.id for i in spool.claim_many("w", 3)] == rows[3:]


# -- the shared retry clock of each destination (issue 10 item 8) ------------------------------------------
def _wait_for(spool: Spool, dest: str, *, delay: float) -> Item:
    row = _store(spool)
    (item,) = [i for i in spool.claim_many("w", 10) if i.id == row]
    spool.mark_retry(item, "w", delay=delay, pending=[dest], code="destination_unreachable")
    return item


def test_destination_backoff_doubles_per_window_and_is_shared_between_spool_connections(tmp_path):
    a, b = Spool(tmp_path), Spool(tmp_path, receiver=False)
    st, went_down = a.destinations.failed(
        "pacs", "destination_unreachable", "ECONNREFUSED", initial=5, maximum=60, now=1000.0
    )
    assert went_down and st.failures == 1 and st.down_until == 1005.0 and st.down_since == 1000.0
    # another worker process fails inside the same window: the clock does not run faster
    st, went_down = b.destinations.failed("pacs", "no_response", "", initial=5, maximum=60, now=1001.0)
    assert not went_down and st.failures == 1 and st.down_until == 1005.0
    assert b.destinations.state("pacs").waiting(1004.0) and not b.destinations.state("pacs").waiting(1005.0)
    st, _ = b.destinations.failed("pacs", "no_response", "", initial=5, maximum=60, now=1006.0)
    assert st.failures == 2 and st.down_until == 1016.0 and st.down_since == 1000.0
    for t in range(20):
        st, _ = a.destinations.failed("pacs", "x", "", initial=5, maximum=60, now=2000.0 + 100 * t)
    assert st.down_until - (2000.0 + 100 * 19) == 60
    assert [s.name for s in a.destination_states()] == ["pacs"]


def test_a_delivery_makes_every_instance_waiting_for_that_destination_due_at_once(tmp_path):
    spool = Spool(tmp_path)
    spool.destinations.failed("pacs", "destination_unreachable", "", initial=5, maximum=600)
    waiting = [_wait_for(spool, "pacs", delay=600) for _ in range(3)]
    other = _wait_for(spool, "archive", delay=600)
    assert spool.claim_many("w2", 10) == []
    assert spool.destinations.succeeded("pacs") == 3
    assert sorted(i.id for i in spool.claim_many("w2", 10)) == sorted(i.id for i in waiting)
    assert other.id not in {i.id for i in spool.claim_many("w3", 10)}
    st = spool.destinations.state("pacs")
    assert not st.down and st.last_ok_at is not None
    assert spool.destinations.succeeded("pacs") is None  # already up: nothing written


def test_retry_now_makes_waiting_instances_due(tmp_path):
    spool = Spool(tmp_path)
    a = _wait_for(spool, "pacs", delay=600)
    b = _wait_for(spool, "archive", delay=600)
    assert spool.destinations.retry_now("archive") == 1
    assert [i.id for i in spool.claim_many("w2", 10)] == [b.id]
    assert spool.destinations.retry_now() == 1
    assert [i.id for i in spool.claim_many("w3", 10)] == [a.id]


def test_waiting_lists_unfinished_rows_with_their_reason(tmp_path):
    spool = Spool(tmp_path)
    a = _wait_for(spool, "pacs", delay=60)
    b = _store(spool)
    rows = spool.waiting()
    assert [r.id for r in rows] == [a.id, b]
    assert rows[0].state is State.RETRY_WAIT and rows[0].pending == ("pacs",)
    assert rows[0].last_code == "destination_unreachable" and rows[1].state is State.RECEIVED
    assert spool.oldest_waiting() == rows[0].received_at


def test_one_probe_per_interval_while_a_long_back_off_runs(tmp_path):
    a, b = Spool(tmp_path), Spool(tmp_path, receiver=False)
    assert not a.destinations.claim_probe("pacs", 5, now=1000.0)  # never failed: nothing to probe
    a.destinations.failed("pacs", "destination_unreachable", "", initial=60, maximum=600, now=1000.0)
    assert a.destinations.claim_probe("pacs", 5, now=1001.0)
    assert not b.destinations.claim_probe("pacs", 5, now=1002.0)  # another worker, same interval
    assert b.destinations.claim_probe("pacs", 5, now=1006.5)
    assert not a.destinations.claim_probe("pacs", 5, now=1057.0)  # the window ends within the interval anyway
