"""The seed demo's web app: counts its hits in redis and says so.

Runs as the janakiramm/web image (port 5000), in the spirit of the seed's
Docker/app.py; answers `Hello Container World! I have been seen N times.` and
names the answering pod (its hostname) in the X-Served-By header, so a client
can tell replicas apart without the body changing.
"""

import os
import signal
import socket
import sys
from types import FrameType

from flask import Flask, Response
from redis import Redis
from redis.exceptions import RedisError

REDIS_HOST = os.environ.get("REDIS_HOST", "redis")
# Not read from REDIS_PORT: a service named redis sets that to tcp://IP:PORT in every pod.
REDIS_PORT = 6379
HOSTNAME = socket.gethostname()

app = Flask(__name__)
# Short timeouts: a pod whose redis is gone should answer 503 at once, not hang a proxy.
redis = Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=2, socket_timeout=2)


@app.after_request
def served_by(response: Response) -> Response:
    response.headers["X-Served-By"] = HOSTNAME
    return response


@app.route("/")
def hello() -> tuple[str, int, dict[str, str]]:
    text = {"Content-Type": "text/plain; charset=utf-8"}
    try:
        hits = redis.incr("hits")
    except RedisError as exc:
        return f"Cannot reach redis at {REDIS_HOST}:{REDIS_PORT}: {exc}\n", 503, text
    return f"Hello Container World! I have been seen {hits} times.\n", 200, text


def _stop(signum: int, frame: FrameType | None) -> None:
    # As PID 1 the process gets no default SIGTERM action: without this, every
    # pod deletion would wait out Docker's stop timeout.
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    app.run(host="0.0.0.0", port=5000, threaded=True)
