"""kubeapi.paging: limit and continue, the next pages from the first page's snapshot."""

from __future__ import annotations

import pytest

from reconciler.kubeapi.paging import Snapshots, Token, decode, encode


class TestPages:
    def test_walks_the_list_once(self) -> None:
        """limit and continue walk the list once, counting what remains."""
        pages = Snapshots()
        items = list(range(5))
        page, text, left = pages.page(items, 2, None, "7", "/api/v1/pods")
        assert page == [0, 1] and left == 3 and text
        token = decode(text)
        assert token is not None and token.start == 2 and token.rv == "7"
        page, text, left = pages.page(items, 2, token, "7", "/api/v1/pods")
        assert page == [2, 3] and left == 1
        page, text, left = pages.page(items, 2, decode(text), "7", "/api/v1/pods")
        assert page == [4] and text == "" and left == 0

    def test_next_pages_from_the_snapshot(self) -> None:
        """A kept snapshot serves the next page, for its own path only."""
        pages = Snapshots()
        _, text, _ = pages.page(["a", "b", "c"], 1, None, "3", "/api/v1/pods")
        token = decode(text)
        assert pages.get(token) == (["a", "b", "c"], "3")
        assert token is not None
        assert pages.get(Token(token.snapshot, 1, "3", "/api/v1/nodes")) is None

    def test_expired_and_evicted(self) -> None:
        """Snapshots go after their time, and the oldest when too many are kept."""
        expired = Snapshots(keep=-1.0)
        _, text, _ = expired.page([1, 2], 1, None, "1", "/p")
        assert expired.get(decode(text)) is None
        few = Snapshots(most=1)
        _, first, _ = few.page([1, 2], 1, None, "1", "/p")
        _, second, _ = few.page([1, 2], 1, None, "1", "/p")
        assert few.get(decode(first)) is None and few.get(decode(second)) is not None

    def test_no_limit(self) -> None:
        """limit 0 is the whole list, nothing kept."""
        assert Snapshots().page([1, 2], 0, None, "1", "/p") == ([1, 2], "", 0)

    def test_tokens(self) -> None:
        """A token round-trips; none is None; garbage is a ValueError (a 400 in app.py)."""
        token = Token("ab", 3, "9", "/api/v1/pods")
        assert decode(encode(token)) == token and decode("") is None
        with pytest.raises(ValueError, match="continue"):
            decode("garbage!")
