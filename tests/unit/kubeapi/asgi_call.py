"""One request through an ASGI app, in process, for the kubeapi unit tests (no httpx here)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message


@dataclass
class Answer:
    """What the app sent back."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def json(self) -> Any:
        return json.loads(self.body)


def call(app: ASGIApp, path: str, *, method: str = "GET", query: str = "",
         headers: dict[str, str] | None = None, client: str = "127.0.0.1",
         state: dict[str, Any] | None = None, body: bytes = b"") -> Answer:
    """Send one request to `app` from `client`; Host defaults to 127.0.0.1:6443."""
    sent = {"host": "127.0.0.1:6443", **(headers or {})}
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "https", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "server": ("127.0.0.1", 6443),
        "client": (client, 40000), "state": dict(state or {}),
        "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()],
    }
    answer = Answer()

    async def run() -> None:
        done = asyncio.Event()
        asked = [False]

        async def receive() -> Message:
            if not asked[0]:
                asked[0] = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()  # the client stays until the whole response has arrived
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                answer.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                answer.chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await app(scope, receive, send)

    asyncio.run(run())
    return answer
