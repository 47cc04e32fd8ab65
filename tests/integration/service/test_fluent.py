"""FluentShipper and the logging set-up against the Forward-protocol receiver on 127.0.0.1."""

from __future__ import annotations

import gzip
import io
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import msgpack
import pytest

from reconciler.api.records import EventRecord
from reconciler.service.fluent import FluentShipper
from reconciler.service.logs import setup_logging
from tests.support.fluent_receiver import Entry, FluentReceiver, free_port


@pytest.fixture
def receiver() -> Iterator[FluentReceiver]:
    with FluentReceiver() as r:
        yield r


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class TestFluentReceiver:
    def _send(self, port: int, *messages: object) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for m in messages:
                s.sendall(msgpack.packb(m))
            s.shutdown(socket.SHUT_WR)
            return s.recv(4096)

    def test_all_modes_and_ack(self, receiver: FluentReceiver) -> None:
        """Message, Forward, PackedForward and gzip PackedForward decode; chunk gets its ack."""
        packed = b"".join(msgpack.packb([1700000000 + i, {"n": i}]) for i in range(2))
        reply = self._send(
            receiver.port,
            ["t.msg", 1700000000, {"a": 1}],
            ["t.fwd", [[1700000001, {"b": 1}], [1700000002, {"b": 2}]]],
            ["t.packed", packed],
            ["t.gz", gzip.compress(packed), {"compressed": "gzip", "chunk": "c1"}],
        )
        assert receiver.wait_for(lambda es: len(es) == 7, 5)
        assert [e.mode for e in receiver.tagged("t.gz")] == ["CompressedPackedForward"] * 2
        assert [e.record for e in receiver.tagged("t.fwd")] == [{"b": 1}, {"b": 2}]
        assert msgpack.unpackb(reply) == {"ack": "c1"}


def event(reason: str = "Scheduled") -> EventRecord:
    return EventRecord(
        namespace="default", kind="Pod", name="web-1", type="Normal", reason=reason,
        message="Successfully assigned default/web-1 to local", source="scheduler",
        host="local", count=2, last_seen=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


class TestFluentShipper:
    def test_logs_and_events_arrive_with_tags_and_fields(
        self, receiver: FluentReceiver, restore_logging: None
    ) -> None:
        """A log line (tag reconciler.log) and an event (tag reconciler.event) arrive structured."""
        shipper = FluentShipper(receiver.address).start()
        try:
            setup_logging("info", shipper, stream=io.StringIO())
            logging.getLogger("reconciler.control").warning("pod %s crashed", "web-1",
                                                            extra={"node": "local"})
            shipper.event(event(), revision="abc123")

            def done(es: list[Entry]) -> bool:
                return any(e.tag == "reconciler.event" for e in es) and any(
                    e.record.get("message") == "pod web-1 crashed" for e in es)

            assert receiver.wait_for(done, 5)
        finally:
            shipper.close()
        (ev,) = receiver.tagged("reconciler.event")
        assert ev.record == {
            "object": "pod/web-1", "kind": "Pod", "namespace": "default", "name": "web-1",
            "uid": "", "type": "Normal",
            "reason": "Scheduled", "message": "Successfully assigned default/web-1 to local",
            "source": "scheduler", "node": "local", "revision": "abc123", "count": 2,
        }
        assert ev.time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
        (line,) = [e for e in receiver.tagged("reconciler.log")
                   if e.record["message"] == "pod web-1 crashed"]
        assert line.record["level"] == "warning" and line.record["node"] == "local"
        assert line.record["logger"] == "reconciler.control"
        assert shipper.health().healthy

    def test_fluentd_down_at_start_then_up(self) -> None:
        """With fluentd down emit never waits for a connection; once it is up the buffer arrives."""
        port = free_port()
        shipper = FluentShipper(f"127.0.0.1:{port}", bound=1000, timeout=0.5).start()
        try:
            # emit only queues (the sender thread connects): 200 of them return, on the
            # caller's thread, while fluentd is down. bench/ may time them; a test does not.
            emitter = threading.Thread(
                target=lambda: [shipper.emit("log", {"i": i}) for i in range(200)], daemon=True)
            emitter.start()
            emitter.join(30)
            assert not emitter.is_alive(), "emit blocked while fluentd was down"
            time.sleep(0.3)
            assert not shipper.connected and not shipper.health().healthy
            assert "not connected" in shipper.health().message
            assert shipper.dropped == 0, "200 records fit the 1,000-record buffer"
            with FluentReceiver(port) as receiver:
                assert receiver.wait_for(lambda es: len(es) >= 200, 30)
                assert [e.record["i"] for e in receiver.entries[:200]] == list(range(200))
                assert shipper.connected and shipper.dropped == 0
        finally:
            shipper.close(timeout=0.2)

    def test_drop_count_rises_beyond_bound(self) -> None:
        """Past the bound the oldest records are dropped and counted; the newest are kept."""
        port = free_port()
        drops: list[int] = []
        shipper = FluentShipper(f"127.0.0.1:{port}", bound=10, timeout=0.5, on_drop=drops.append)
        shipper.start()
        try:
            results = [shipper.emit("log", {"i": i}) for i in range(25)]
            assert results.count(False) >= 14  # the sender may hold one in flight
            assert shipper.dropped == len(drops) == results.count(False)
            assert "dropped" in shipper.health().message
            with FluentReceiver(port) as receiver:
                assert receiver.wait_for(lambda es: any(e.record["i"] == 24 for e in es), 15)
                got = [e.record["i"] for e in receiver.entries]
                assert got[-10:] == list(range(15, 25))
        finally:
            shipper.close(timeout=0.2)

    def test_fluentd_restart_reconnects(self) -> None:
        """After fluentd goes away and returns on the same port, records flow again."""
        port = free_port()
        shipper = FluentShipper(f"127.0.0.1:{port}", timeout=0.5).start()
        try:
            with FluentReceiver(port) as first:
                shipper.emit("log", {"phase": "before"})
                assert first.wait_for(lambda es: len(es) == 1, 5)
            for i in range(3):  # the first send after the stop may vanish into a dead socket
                shipper.emit("log", {"phase": "during", "i": i})
                time.sleep(0.1)
            with FluentReceiver(port) as second:
                shipper.emit("log", {"phase": "after"})
                assert second.wait_for(
                    lambda es: any(e.record["phase"] == "after" for e in es), 15)
        finally:
            shipper.close(timeout=0.2)

    def test_unserializable_record_does_not_wedge_queue(self, receiver: FluentReceiver) -> None:
        """A record msgpack cannot encode is replaced, and later records still arrive."""
        shipper = FluentShipper(receiver.address).start()
        try:
            shipper.emit("log", {"bad": object()})
            shipper.emit("log", {"good": 1})
            assert receiver.wait_for(lambda es: any("good" in e.record for e in es), 5)
        finally:
            shipper.close()
