"""The 2016 guestbook's frontend (gb-frontend:v3/v4), in Flask instead of PHP.

Serves the same API as the original guestbook.php on port 80: GET / is the
page; GET /guestbook.php?cmd=set&key=K&value=V writes to the redis master and
answers {"message": "Updated"}; cmd=get reads from a redis slave and answers
{"data": V}. Hosts are found as the original did: GET_HOSTS_FROM=env reads
REDIS_MASTER_SERVICE_HOST / REDIS_SLAVE_SERVICE_HOST, anything else uses the
DNS names redis-master / redis-slave.
"""

import json
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

from flask import Flask, Response, request
from redis import Redis
from redis.exceptions import RedisError

PAGE = Path(__file__).with_name("index.html")
HOSTNAME = socket.gethostname()

app = Flask(__name__)


def _host(role: str) -> str:
    # Read per request, as PHP's getenv was: the answer follows the pod's environment.
    if os.environ.get("GET_HOSTS_FROM") == "env":
        return os.environ.get(f"REDIS_{role.upper()}_SERVICE_HOST", "")
    return f"redis-{role}"


def _client(role: str) -> Redis:
    return Redis(host=_host(role), port=6379, socket_connect_timeout=2, socket_timeout=2)


def _json(body: dict[str, str], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


@app.after_request
def served_by(response: Response) -> Response:
    response.headers["X-Served-By"] = HOSTNAME
    return response


@app.route("/")
def index() -> Response:
    return Response(PAGE.read_bytes(), mimetype="text/html")


@app.route("/guestbook.php")
def guestbook() -> Response:
    cmd = request.args.get("cmd")
    if cmd is None:
        # The original printed phpinfo() here.
        return Response(f"guestbook frontend on {HOSTNAME}\n", mimetype="text/plain")
    key = request.args.get("key", "")
    try:
        if cmd == "set":
            _client("master").set(key, request.args.get("value", ""))
            return _json({"message": "Updated"})
        value = _client("slave").get(key)
    except RedisError as exc:
        return _json({"error": f"redis: {exc}"}, status=503)
    # The original printed a missing key as an empty string.
    return _json({"data": value.decode("utf-8", "replace") if value is not None else ""})


def _stop(signum: int, frame: FrameType | None) -> None:
    # PID 1 has no default SIGTERM action; exit so a pod stops at once.
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    app.run(host="0.0.0.0", port=80, threaded=True)
