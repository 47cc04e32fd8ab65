"""Credentials in git URLs never reach a message: `redact` on URLs and on git's own output."""

from __future__ import annotations

import pytest

from reconciler.sources.git import redact


class TestRedact:
    @pytest.mark.parametrize(("text", "expected"), [
        ("https://user:token@git.example/r.git", "https://***@git.example/r.git"),
        ("https://token@git.example/r.git", "https://***@git.example/r.git"),
        ("http://u:p@127.0.0.1:3000/r", "http://***@127.0.0.1:3000/r"),
        ("fatal: unable to access 'https://u:p%40x@h/r/': 403",
         "fatal: unable to access 'https://***@h/r/': 403"),
        ("ssh://git@host/r.git", "ssh://***@host/r.git"),
        ("https://git.example/r.git", "https://git.example/r.git"),
        ("git@github.com:team/r.git", "git@github.com:team/r.git"),
        ("/srv/git/desired.git", "/srv/git/desired.git"),
        ("a https://a:b@h/x and https://c:d@i/y", "a https://***@h/x and https://***@i/y"),
    ])
    def test_userinfo_is_hidden(self, text: str, expected: str) -> None:
        """The user and password part of every URL in the text becomes ***."""
        assert redact(text) == expected
