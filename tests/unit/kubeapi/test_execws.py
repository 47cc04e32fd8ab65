"""kubectl exec over WebSocket: the final Status, and the read-only role's refusal."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any, cast

import pytest
from starlette.types import Message

from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.execws import ERROR, STDIN, DockerExec, _pump_input, exit_status, route


async def _exchange(scope_state: dict[str, Any]) -> list[Message]:
    """One WebSocket session with the exec route: the client connects and waits."""
    app = route(ApiContext(state="unused"))
    scope = {"type": "websocket", "path": "/api/v1/namespaces/default/pods/p/exec",
             "query_string": b"command=true", "headers": [], "subprotocols":
             ["v5.channel.k8s.io"], "state": scope_state, "root_path": ""}
    sent: list[Message] = []
    connected = False

    async def receive() -> Message:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await asyncio.sleep(30)  # the client says nothing more
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 10)
    return sent


class TestExitStatus:
    """The channel-3 Status kubectl turns into its exit code."""

    def test_success(self) -> None:
        """Exit code 0 is a Success Status."""
        assert exit_status(0, ["true"])["status"] == "Success"

    def test_non_zero_exit_code(self) -> None:
        """Another code is NonZeroExitCode with the code as the ExitCode cause."""
        status = exit_status(3, ["sh", "-c", "exit 3"])
        assert (status["reason"], status["details"]["causes"]) == (
            "NonZeroExitCode", [{"reason": "ExitCode", "message": "3"}])


class TestReadOnlyRole:
    """A WebSocket carries no method, so the route itself refuses the read-only role."""

    @pytest.mark.parametrize("state", [{}, {"user": "anonymous"}])
    def test_no_role_gets_403(self, state: dict[str, Any]) -> None:
        """Without the auth middleware's role the route runs nothing either."""
        data = asyncio.run(_exchange(state))[1]["bytes"]
        assert data[0] == ERROR and json.loads(data[1:])["code"] == 403

    def test_read_only_caller_gets_403(self) -> None:
        """The session is accepted with the v5 protocol, then ends with a 403 Status."""
        sent = asyncio.run(_exchange({"user": "viewer", "role": "read-only"}))
        assert sent[0] == {"type": "websocket.accept", "subprotocol": "v5.channel.k8s.io",
                           "headers": []}
        data = sent[1]["bytes"]
        assert data[0] == ERROR
        status = json.loads(data[1:])
        assert (status["code"], status["reason"]) == (403, "Forbidden")
        assert sent[2]["type"] == "websocket.close"


class _Client:
    """A client that sends stdin twice, then waits for the output until told it ended."""

    def __init__(self, ended: asyncio.Event) -> None:
        self.ended = ended
        self.messages: list[Message] = [
            {"type": "websocket.receive", "bytes": bytes([STDIN]) + b"more input"},
            {"type": "websocket.receive", "bytes": bytes([STDIN]) + b"and more"}]

    async def receive(self) -> Message:
        if self.messages:
            return self.messages.pop(0)
        await self.ended.wait()
        return {"type": "websocket.disconnect", "code": 1000}


class TestInput:
    def test_input_to_an_ended_command_is_dropped(self) -> None:
        """Writing stdin fails (EPIPE: `head -c 10` exited): the rest is dropped and the
        client is still read, not taken for gone (its exit status is still to come)."""
        ours, theirs = socket.socketpair()
        theirs.close()  # the command's side: gone
        run = DockerExec.__new__(DockerExec)
        run.sock = ours

        async def session() -> bool:
            ended = asyncio.Event()
            pump = asyncio.create_task(_pump_input(cast(Any, _Client(ended)), run))
            await asyncio.sleep(0.5)
            still_reading = not pump.done()
            ended.set()
            await asyncio.wait_for(pump, 5)
            return still_reading

        try:
            assert asyncio.run(session())
        finally:
            ours.close()
