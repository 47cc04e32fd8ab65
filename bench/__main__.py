"""`python -m bench [NAME ...]`: run the benchmarks, print the table, write the JSON.

The entry point `make bench` calls. With no NAME every benchmark runs, in the
order of issue 8 (then issue 23's SQL count and the durations tests no longer
assert), and the table of issue 23's goals
is printed at the end with each verdict; `--list` names them, `--quick` runs
small sizes only to check that a benchmark works. Results go to bench/results/
(git-ignored): <timestamp>.json and latest.json, the goal rows included;
docs/performance.md holds the table committed.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench.report import Row, summary, table, write_json

# Benchmark name -> module with `run(args) -> list[Row]` (or `run() -> list[Row]`).
BENCHMARKS = {
    "pod-cold-start": "bench.coldstart",
    "pod-spans": "bench.podspans",
    "replica-scale": "bench.scaling",
    "steady-state": "bench.steady",
    "drift-repair": "bench.drift",
    "proxy": "bench.proxy",
    "scale": "bench.scale",
    "validation": "bench.validation",
    "sql-per-pod": "bench.sqlcount",
    "reaction": "bench.reaction",
    "rollout": "bench.rollout",
    "capacity": "bench.capacity",
    "pass-cpu": "bench.passcpu",
    "multihost": "bench.multihost",
}
RESULTS = Path(__file__).resolve().parent / "results"


def _engine_version() -> str:
    run = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                         capture_output=True, text=True, check=False)
    return run.stdout.strip() or "unknown"


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="name the benchmarks and exit")
    parser.add_argument("--pods", type=int, default=None,
                        help="pods for the scale benchmark (default 1000, the issue's figure)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, to check that a benchmark works (figures not "
                             "comparable with the goals)")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    # A SIGTERM (timeout, Ctrl-C's cousin) unwinds like an error: services stop, containers go.
    signal.signal(signal.SIGTERM, _terminate)
    rows: list[Row] = []
    failed: list[str] = []
    durations: dict[str, float] = {}
    for name in args.names or list(BENCHMARKS):
        print(f"== {name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(BENCHMARKS[name])
            got: list[Row] = module.run(args)
        except Exception as e:
            traceback.print_exc()
            failed.append(name)
            got = [Row(name, "benchmark failed", None, note=f"{type(e).__name__}: {e}"[:200])]
        durations[name] = round(time.monotonic() - started, 1)
        print(table(got), file=sys.stderr, flush=True)
        rows.extend(got)
    print(table(rows))
    print("\nIssue 23's goals, from this run (a verdict of \"not measured\": not run):")
    goals = summary(rows)
    print(table(goals))
    path = write_json(rows + goals, RESULTS, {"engine": _engine_version(), "seconds": durations,
                                      "args": vars(args)})
    print(f"\nwritten: {path} (and latest.json)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
