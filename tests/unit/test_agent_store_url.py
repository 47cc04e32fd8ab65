"""`reconciler agent`'s store URL: libpq keepalives and timeouts over TCP, nothing else touched.

A partition leaves a TCP connection silent rather than closed; tests/e2e/test_multihost.py's
partition proof shows the agent seeing the store gone only with these (issue 18).
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from reconciler.cli.agent import TCP_TIMEOUTS, with_tcp_timeouts


def test_tcp_url_gets_every_timeout() -> None:
    """A PostgreSQL URL over TCP gets each keepalive and timeout, its password kept."""
    url = make_url(with_tcp_timeouts("postgresql+psycopg://r:secret@10.0.0.1:5432/db"))
    assert dict(url.query) == TCP_TIMEOUTS
    assert (url.password, url.host, url.port, url.database) == ("secret", "10.0.0.1", 5432, "db")


def test_own_values_win() -> None:
    """A value the URL sets itself stays as it is."""
    url = make_url(with_tcp_timeouts("postgresql+psycopg://r@db.example/db?connect_timeout=30"))
    assert url.query["connect_timeout"] == "30"
    assert url.query["tcp_user_timeout"] == TCP_TIMEOUTS["tcp_user_timeout"]


def test_sockets_and_sqlite_unchanged() -> None:
    """A unix socket or SQLite has no network to lose: the URL is left alone."""
    for state in ("state.db", "/var/lib/reconciler/state.db", "sqlite:///x.db",
                  "postgresql+psycopg://r@/db?host=/run/postgresql&port=5432",
                  "postgresql+psycopg://r@/db"):
        assert with_tcp_timeouts(state) == state
