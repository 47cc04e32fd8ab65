"""Cron schedules as a CronJob's `spec.schedule` means them: parsing and the next start time.

Pure, at the bottom of the flow: the manifest checks refuse a schedule that does
not parse (with the field and why), and the CronJob planner
(`reconciler.planning.cronjob`) asks for start times. The semantics are those of
robfig/cron v3's `ParseStandard`, which Kubernetes uses: five fields (minute,
hour, day of month, month, day of week 0-6 with 0 Sunday), names (JAN-DEC,
SUN-SAT), `*` and `?`, lists, ranges, steps (`N/S` means `N-max/S`), the
descriptors @yearly, @annually, @monthly, @weekly, @daily, @midnight and
@hourly, and when both day fields are restricted a day matching either runs.

Why not APScheduler's CronTrigger (a dependency, used by the service as the
timer): it numbers weekdays from Monday (its own documentation warns that `0` is
Monday there and Sunday in crontab) and requires both day fields to match, so
`0 9 1 * MON` would mean another thing than in Kubernetes.

Times are computed on the wall clock of the schedule's zone (zoneinfo): a wall
time skipped by a daylight-saving jump does not run, and a repeated one runs once
(the first time it is reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (name, min, max, names) per field, in order.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
# robfig/cron gives up after five years without a match (a 30th of February).
_HORIZON_YEARS = 5


class CronError(ValueError):
    """A schedule that does not parse; the message says which field and why."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: the allowed values of each field."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_star: bool  # day of month was `*` or `?`: the day fields then both have to match
    weekdays_star: bool

    def day_matches(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def next_after(self, t: datetime, tz: tzinfo = UTC) -> datetime | None:
        """The first start strictly after `t` (aware), in UTC; None if none in five years."""
        local = t.astimezone(tz).replace(tzinfo=None)
        cand = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = cand.year + _HORIZON_YEARS
        while cand.year <= limit:
            if cand.month not in self.months:
                cand = (cand.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self.day_matches(cand):
                cand = cand.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if cand.hour not in self.hours:
                cand = cand.replace(minute=0) + timedelta(hours=1)
                continue
            if cand.minute not in self.minutes:
                cand += timedelta(minutes=1)
                continue
            aware = cand.replace(tzinfo=tz)
            utc = aware.astimezone(UTC)
            # A wall time in a spring-forward gap does not exist; one in the repeated hour
            # can map before `t` (its first pass is already behind us).
            if utc.astimezone(tz).replace(tzinfo=None) != cand or utc <= t:
                cand += timedelta(minutes=1)
                continue
            return utc
        return None


def _value(text: str, lo: int, names: dict[str, int], field: str) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"{field}: {text!r} is not a number"
                        + (" or a name" if names else ""))
    return int(text)


def _parse_field(text: str, field: str, lo: int, hi: int,
                 names: dict[str, int]) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for part in text.split(","):
        range_step = part.split("/")
        if len(range_step) > 2:
            raise CronError(f"{field}: too many slashes in {part!r}")
        low_high = range_step[0].split("-")
        if low_high[0] in ("*", "?"):
            if len(low_high) > 1:
                raise CronError(f"{field}: {part!r} is not a range")
            start, end, part_star = lo, hi, True
        else:
            if len(low_high) > 2:
                raise CronError(f"{field}: too many hyphens in {part!r}")
            start = _value(low_high[0], lo, names, field)
            end = _value(low_high[1], lo, names, field) if len(low_high) == 2 else start
            part_star = False
        step = 1
        if len(range_step) == 2:
            if not range_step[1].isdigit():
                raise CronError(f"{field}: step {range_step[1]!r} is not a number")
            step = int(range_step[1])
            if len(low_high) == 1 and not part_star:
                end = hi  # "N/step" means "N-max/step"
            if step > 1:
                part_star = False
        if start < lo:
            raise CronError(f"{field}: {start} is below the minimum {lo}")
        if end > hi:
            raise CronError(f"{field}: {end} is above the maximum {hi}")
        if start > end:
            raise CronError(f"{field}: range {start}-{end} runs backwards")
        if step == 0:
            raise CronError(f"{field}: a step must be a positive number")
        values.update(range(start, end + 1, step))
        star = star or part_star
    return frozenset(values), star


def parse(text: str) -> Schedule:
    """Parse a schedule, or raise CronError."""
    spec = text.strip()
    upper = spec.upper()
    if upper.startswith(("TZ=", "CRON_TZ=")):
        raise CronError("TZ and CRON_TZ are not accepted in the schedule: use spec.timeZone")
    if spec.startswith("@"):
        if spec.startswith("@every"):
            raise CronError("@every is not supported here: give a cron expression")
        if spec not in DESCRIPTORS:
            raise CronError(f"unknown descriptor {spec!r} (known: {', '.join(DESCRIPTORS)})")
        spec = DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected 5 fields (minute hour day-of-month month day-of-week), "
                        f"found {len(fields)}")
    parsed = [_parse_field(f, name, lo, hi, names)
              for f, (name, lo, hi, names) in zip(fields, _FIELDS, strict=True)]
    return Schedule(text, parsed[0][0], parsed[1][0], parsed[2][0], parsed[3][0], parsed[4][0],
                    days_star=parsed[2][1], weekdays_star=parsed[4][1])


def zone(name: str | None) -> tzinfo:
    """The tz database zone of a `timeZone` (None: UTC, the service's clock), or CronError."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise CronError(f"unknown time zone {name!r}: {e}") from None
