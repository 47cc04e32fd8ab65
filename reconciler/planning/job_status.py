"""A Job's status as plain data, its conditions, completed indexes and pod-failure back-off.

The status half of the pure Job planner (`reconciler.planning.job`): it reads the
status last written (`JobStatus.from_json`), and writes it back with Kubernetes'
field names (`to_json`). Mirrors pkg/controller/job: the Complete, Failed and
Suspended conditions (job_controller.go newCondition), the completedIndexes
interval string (indexed_job_utils.go), and backoff_utils.go's pod-failure
back-off (10 s after the first failure, doubling, capped), computed from the
pods' own finish times: failures after the last success, time since the last.
`templateHash` is ours: which template the counts belong to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from reconciler.api.records import PodRecord
from reconciler.api.types import JSON
from reconciler.planning.job_spec import finished_at

BACKOFF_INITIAL = timedelta(seconds=10)  # DefaultJobPodFailureBackOff
BACKOFF_MAX = timedelta(minutes=6)  # the cap Kubernetes' Job documentation states


def fmt_time(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class JobCondition:
    """status.conditions[]: Complete, Failed or Suspended."""

    type: str
    status: bool
    reason: str = ""
    message: str = ""
    at: datetime | None = None

    def to_json(self) -> JSON:
        at = fmt_time(self.at)
        return {"type": self.type, "status": "True" if self.status else "False",
                "reason": self.reason, "message": self.message,
                "lastProbeTime": at, "lastTransitionTime": at}


@dataclass(frozen=True)
class JobStatus:
    """status of a Job, Kubernetes' field names in `to_json`."""

    active: int = 0
    ready: int = 0
    succeeded: int = 0
    failed: int = 0
    start_time: datetime | None = None
    completion_time: datetime | None = None
    conditions: tuple[JobCondition, ...] = ()
    completed_indexes: frozenset[int] = frozenset()
    template_hash: str = ""
    indexed: bool = False

    def condition(self, type_: str) -> JobCondition | None:
        return next((c for c in self.conditions if c.type == type_ and c.status), None)

    @property
    def finished(self) -> JobCondition | None:
        """The Complete or Failed condition, once there is one (IsJobFinished)."""
        return self.condition("Complete") or self.condition("Failed")

    def with_condition(self, cond: JobCondition) -> JobStatus:
        """The condition set; its transition time kept when its status did not change."""
        out: list[JobCondition] = []
        for c in self.conditions:
            if c.type == cond.type:
                if c.status == cond.status:
                    cond = replace(cond, at=c.at)
                continue
            out.append(c)
        return replace(self, conditions=(*out, cond))

    def to_json(self) -> JSON:
        out: JSON = {"active": self.active, "ready": self.ready, "succeeded": self.succeeded,
                     "failed": self.failed, "templateHash": self.template_hash}
        if self.start_time is not None:
            out["startTime"] = fmt_time(self.start_time)
        if self.completion_time is not None:
            out["completionTime"] = fmt_time(self.completion_time)
        if self.conditions:
            out["conditions"] = [c.to_json() for c in self.conditions]
        if self.indexed:
            out["completedIndexes"] = format_indexes(self.completed_indexes)
        return out

    @classmethod
    def from_json(cls, data: JSON | None) -> JobStatus:
        data = data or {}
        conds = tuple(
            JobCondition(str(c.get("type", "")), c.get("status") == "True",
                         str(c.get("reason") or ""), str(c.get("message") or ""),
                         parse_time(c.get("lastTransitionTime")))
            for c in data.get("conditions") or [])
        return cls(
            active=int(data.get("active") or 0), ready=int(data.get("ready") or 0),
            succeeded=int(data.get("succeeded") or 0), failed=int(data.get("failed") or 0),
            start_time=parse_time(data.get("startTime")),
            completion_time=parse_time(data.get("completionTime")),
            conditions=conds,
            completed_indexes=parse_indexes(str(data.get("completedIndexes") or "")),
            template_hash=str(data.get("templateHash") or ""),
            indexed="completedIndexes" in data,
        )


def format_indexes(indexes: Iterable[int]) -> str:
    """The completedIndexes text: sorted, runs of three or more as intervals ("1,3-5,7")."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(set(indexes)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        out.extend(_run_text(run))
        run = [i]
    out.extend(_run_text(run))
    return ",".join(out)


def _run_text(run: list[int]) -> list[str]:
    if len(run) >= 3:
        return [f"{run[0]}-{run[-1]}"]
    return [str(i) for i in run]


def parse_indexes(text: str) -> frozenset[int]:
    """The inverse of `format_indexes`; parts that are not numbers are skipped."""
    out: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            lo = int(first)
            hi = int(last) if last else lo
        except ValueError:
            continue
        out.update(range(lo, hi + 1))
    return frozenset(out)


@dataclass(frozen=True)
class Backoff:
    """backoffRecord: failures since the last success, and when the last one ended."""

    failures: int = 0
    last_failure: datetime | None = None

    def delay(self) -> timedelta:
        if self.failures == 0:
            return timedelta(0)
        steps = min(self.failures - 1, 30)
        return min(BACKOFF_MAX, BACKOFF_INITIAL * int(2 ** steps))

    def remaining(self, now: datetime) -> timedelta:
        """How long new pods must still wait (zero: none)."""
        if self.failures == 0 or self.last_failure is None:
            return timedelta(0)
        return max(timedelta(0), self.delay() - (now - self.last_failure))


def backoff_of(succeeded: Sequence[PodRecord], failed: Sequence[PodRecord]) -> Backoff:
    """The back-off record from the finished pods of the current run."""
    last_success = max((finished_at(p) for p in succeeded), default=None)
    after = [t for t in (finished_at(p) for p in failed)
             if last_success is None or t > last_success]
    return Backoff(len(after), max(after, default=None))
