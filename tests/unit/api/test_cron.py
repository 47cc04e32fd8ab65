"""Cron schedules: robfig/cron's standard syntax and the next start, in UTC and in a zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api import cron

T0 = datetime(2026, 3, 2, 10, 17, 30, tzinfo=UTC)  # a Monday


def brute_next(s: cron.Schedule, t: datetime) -> datetime | None:
    """The next start by trying every minute (UTC): the reference for the fast search."""
    cand = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while cand.year <= t.year + 5:
        if (cand.minute in s.minutes and cand.hour in s.hours and cand.month in s.months
                and s.day_matches(cand)):
            return cand
        # A whole hour can be skipped when its hour or day does not match: same answer.
        if cand.hour not in s.hours or cand.month not in s.months or not s.day_matches(cand):
            cand = cand.replace(minute=0) + timedelta(hours=1)
        else:
            cand += timedelta(minutes=1)
    return None


class TestParse:
    """Parsing: fields, names, ranges, steps, descriptors, and the errors."""

    @pytest.mark.parametrize(("text", "field", "values"), [
        ("*/15 * * * *", "minutes", set(range(0, 60, 15))),
        ("5-10/2 * * * *", "minutes", {5, 7, 9}),
        ("7/20 * * * *", "minutes", {7, 27, 47}),
        ("0 9-17 * * *", "hours", set(range(9, 18))),
        ("0 0 1,15 * *", "days", {1, 15}),
        ("0 0 * JAN,jul *", "months", {1, 7}),
        ("0 0 * * MON-FRI", "weekdays", {1, 2, 3, 4, 5}),
        ("0 0 ? * sun", "weekdays", {0}),
    ])
    def test_field_values(self, text: str, field: str, values: set[int]) -> None:
        """Each field form gives the values robfig/cron gives."""
        assert set(getattr(cron.parse(text), field)) == values

    @pytest.mark.parametrize(("text", "equal"), [
        ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ])
    def test_descriptors(self, text: str, equal: str) -> None:
        """The @ descriptors mean their five-field forms."""
        a, b = cron.parse(text), cron.parse(equal)
        assert (a.minutes, a.hours, a.days, a.months, a.weekdays) == \
            (b.minutes, b.hours, b.days, b.months, b.weekdays)

    @pytest.mark.parametrize(("text", "words"), [
        ("* * * *", "expected 5 fields"),
        ("60 * * * *", "above the maximum"),
        ("* * 0 * *", "below the minimum"),
        ("* * * * 7", "above the maximum"),
        ("10-5 * * * *", "backwards"),
        ("*/0 * * * *", "positive"),
        ("a * * * *", "not a number"),
        ("@every 5m", "not supported"),
        ("@often", "unknown descriptor"),
        ("TZ=UTC * * * * *", "spec.timeZone"),
        ("1/2/3 * * * *", "too many slashes"),
    ])
    def test_errors(self, text: str, words: str) -> None:
        """A bad schedule is refused with the field and the reason."""
        with pytest.raises(cron.CronError, match=words):
            cron.parse(text)

    def test_unknown_zone(self) -> None:
        """An unknown time zone is refused; none means UTC."""
        with pytest.raises(cron.CronError, match="unknown time zone"):
            cron.zone("Mars/Olympus")
        assert cron.zone(None) is UTC


class TestNext:
    """The next start: strictly after, day-field OR rule, zones and daylight saving."""

    def test_every_minute(self) -> None:
        """`* * * * *` starts at the next whole minute, never at the same one."""
        s = cron.parse("* * * * *")
        assert s.next_after(T0) == datetime(2026, 3, 2, 10, 18, tzinfo=UTC)
        exact = datetime(2026, 3, 2, 10, 18, tzinfo=UTC)
        assert s.next_after(exact) == exact + timedelta(minutes=1)

    def test_both_day_fields_either_matches(self) -> None:
        """With day of month and day of week restricted, a day matching either runs."""
        s = cron.parse("0 0 13 * FRI")
        starts = []
        t = datetime(2026, 3, 1, tzinfo=UTC)
        for _ in range(6):
            nxt = s.next_after(t)
            assert nxt is not None
            starts.append(nxt.day)
            t = nxt
        assert starts == [6, 13, 20, 27, 3, 10]  # Fridays of March and the 13th

    def test_stepped_weekday_is_restricted(self) -> None:
        """`*/2` in a day field is a restriction (robfig clears the star for steps > 1)."""
        assert not cron.parse("0 0 1 * */2").weekdays_star

    def test_in_a_zone(self) -> None:
        """09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer."""
        s, ny = cron.parse("0 9 * * *"), ZoneInfo("America/New_York")
        assert s.next_after(datetime(2026, 1, 5, tzinfo=UTC), ny) == \
            datetime(2026, 1, 5, 14, tzinfo=UTC)
        assert s.next_after(datetime(2026, 7, 6, tzinfo=UTC), ny) == \
            datetime(2026, 7, 6, 13, tzinfo=UTC)

    def test_skipped_wall_time_does_not_run(self) -> None:
        """02:30 does not exist on a spring-forward day: that day has no start."""
        s, ny = cron.parse("30 2 * * *"), ZoneInfo("America/New_York")
        nxt = s.next_after(datetime(2026, 3, 8, 5, tzinfo=UTC), ny)  # 00:00 local, DST day
        assert nxt == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)

    def test_repeated_wall_time_runs_once(self) -> None:
        """01:30 happens twice on a fall-back day: one start."""
        s, ny = cron.parse("30 1 * * *"), ZoneInfo("America/New_York")
        first = s.next_after(datetime(2026, 11, 1, 4, tzinfo=UTC), ny)
        assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
        assert s.next_after(first, ny) == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)

    def test_never(self) -> None:
        """A 30th of February never comes: None, not a loop."""
        assert cron.parse("0 0 30 2 *").next_after(T0) is None

    @settings(max_examples=80, deadline=None)
    @given(minute=st.sampled_from(["*", "*/7", "5", "0-30/10", "59"]),
           hour=st.sampled_from(["*", "3", "*/5", "22-23"]),
           dom=st.sampled_from(["*", "1", "15-20", "30", "*/3"]),
           month=st.sampled_from(["*", "2", "6-8", "DEC"]),
           dow=st.sampled_from(["*", "0", "MON-FRI", "6"]),
           offset=st.integers(0, 400 * 24 * 60))
    def test_agrees_with_brute_force(self, minute: str, hour: str, dom: str, month: str,
                                     dow: str, offset: int) -> None:
        """The skipping search finds the same start as trying every minute."""
        s = cron.parse(f"{minute} {hour} {dom} {month} {dow}")
        t = T0 + timedelta(minutes=offset)
        assert s.next_after(t) == brute_next(s, t)
