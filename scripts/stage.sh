#!/bin/sh
# One stage of `make run`/`make setup`: say what starts and how far along the set-up is,
# then how long it took, or that it failed, naming the stage and the log to read.
# Usage: scripts/stage.sh N TOTAL "what" [--log FILE] -- COMMAND [ARGS...]
n=$1 total=$2 what=$3
shift 3
log=""
if [ "$1" = "--log" ]; then log=$2; shift 2; fi
[ "$1" = "--" ] && shift
start=$(date +%s)
printf '==> [%s/%s] %s\n' "$n" "$total" "$what" >&2
"$@"
code=$?
took=$(( $(date +%s) - start ))
if [ "$code" -ne 0 ]; then
  printf '==> [%s/%s] %s FAILED (exit %s after %ss)%s\n' "$n" "$total" "$what" "$code" "$took" \
    "${log:+; read $log}" >&2
  exit "$code"
fi
printf '==> [%s/%s] %s: done in %ss\n' "$n" "$total" "$what" "$took" >&2
