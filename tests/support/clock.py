"""A clock the test moves by hand, for code that takes a `clock: Callable[[], T]` (monotonic
seconds as a float, or an aware datetime)."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class ManualClock(Generic[T]):
    """Returns `now`, which only the test changes."""

    def __init__(self, now: T) -> None:
        self.now = now

    def __call__(self) -> T:
        return self.now
