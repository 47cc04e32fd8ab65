"""pods/log: the container a request reads, its start time, and the relay of a blocking stream."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator

import pytest

from reconciler.kubeapi.logs import LogError, pick_container, relay, since_unix

SPEC = {"initContainers": [{"name": "setup"}], "containers": [{"name": "main"}]}
TWO = {"containers": [{"name": "web"}, {"name": "sidecar"}]}


class TestPickContainer:
    """The API server's rules for the `container` parameter."""

    def test_the_only_container_is_the_default(self) -> None:
        """A pod of one container needs no name."""
        assert pick_container("p", SPEC, None) == "main"

    def test_init_containers_may_be_named(self) -> None:
        """An init container's logs are readable by name."""
        assert pick_container("p", SPEC, "setup") == "setup"

    def test_an_unknown_name_is_a_400_in_kubernetes_words(self) -> None:
        """A container the pod does not have: 400, 'container X is not valid for pod P'."""
        with pytest.raises(LogError) as e:
            pick_container("p", SPEC, "nope")
        assert (e.value.code, e.value.message) == (400, "container nope is not valid for pod p")

    def test_several_containers_need_a_name(self) -> None:
        """Two containers and none named: 400 listing the choices."""
        with pytest.raises(LogError) as e:
            pick_container("p", TWO, None)
        assert e.value.message == ("a container name must be specified for pod p, "
                                   "choose one of: [web sidecar]")


class TestSince:
    """sinceSeconds and sinceTime as the Unix time Docker's `since` takes."""

    def test_since_seconds(self) -> None:
        """sinceSeconds counts back from now."""
        assert since_unix(60, None, now=1000.0) == 940

    def test_since_time(self) -> None:
        """sinceTime is RFC 3339."""
        assert since_unix(None, "1970-01-01T00:16:40Z") == 1000

    def test_both_is_invalid(self) -> None:
        """At most one of the two, as the API server says."""
        with pytest.raises(LogError) as e:
            since_unix(5, "1970-01-01T00:00:00Z")
        assert e.value.code == 422


class Blocking:
    """A stream whose reads block until a chunk is fed or it is closed (Docker's, in small)."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[bytes | None] = queue.Queue()
        self.done = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        try:
            while (chunk := self.chunks.get()) is not None:
                yield chunk
        finally:
            self.done.set()

    def close(self) -> None:
        self.chunks.put(None)


class TestRelay:
    """The relay copies a blocking stream and closes it when the client leaves."""

    def test_a_client_that_leaves_ends_the_reading_thread(self) -> None:
        """After the consumer stops, the source is closed and its blocked read returns."""
        source = Blocking()

        async def consume() -> list[bytes]:
            got = []
            stream = relay(iter(source), source.close)
            source.chunks.put(b"one\n")
            async for chunk in stream:
                got.append(chunk)
                break  # the client went away while the source still blocks
            await stream.aclose()  # type: ignore[attr-defined]
            return got

        assert asyncio.run(consume()) == [b"one\n"]
        assert source.done.wait(10)

    def test_limit_bytes(self) -> None:
        """limitBytes cuts the stream at that many bytes."""
        source = Blocking()
        for chunk in (b"abcd", b"efgh", b"ijkl"):
            source.chunks.put(chunk)

        async def consume() -> bytes:
            return b"".join([c async for c in relay(iter(source), source.close, limit=6)])

        assert asyncio.run(consume()) == b"abcdef"
