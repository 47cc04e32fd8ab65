#!/bin/sh
# One stage of `make run`/`make setup`/`make test`: say what starts and how far along the
# set-up is, then how long it took, or that it failed, naming the stage and the log to read.
# A stage that runs long says so every STAGE_HEARTBEAT seconds (30; 0: never), naming the
# command it is in, and one that runs past STAGE_TIMEOUT seconds (1200) is stopped and fails:
# a set-up that hangs (an apt mirror that stops answering) fails naming where, not at CI's
# own time limit.
# The command's standard input is /dev/null: nothing in the set-up asks a question.
# Usage: scripts/stage.sh N TOTAL "what" [--log FILE] -- COMMAND [ARGS...]
n=$1 total=$2 what=$3
shift 3
log=""
if [ "$1" = "--log" ]; then log=$2; shift 2; fi
[ "$1" = "--" ] && shift
limit=${STAGE_TIMEOUT:-1200}
every=${STAGE_HEARTBEAT:-30}
start=$(date +%s)
printf '==> [%s/%s] %s\n' "$n" "$total" "$what" >&2

# The innermost command the stage is in (the newest child, followed down; a `sleep` only when
# there is nothing else: a progress loop's sleep beside the work is not where the stage is).
innermost() {
  command -v pgrep >/dev/null 2>&1 || return 0
  p=$1
  while :; do
    c="" any=""
    for k in $(pgrep -P "$p" 2>/dev/null); do
      any=$k
      [ "$(cat "/proc/$k/comm" 2>/dev/null)" = sleep ] || c=$k
    done
    c=${c:-$any}
    [ -n "$c" ] || break
    p=$c
  done
  [ "$p" = "$1" ] || tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-160
}

# timeout runs the command in a process group of its own (so that a timeout stops all of it),
# out of reach of a terminal's Ctrl-C: pass an interrupt on to that whole group (and to
# timeout itself, should it not have made its group yet). Set before the start: no window.
pid=""
trap '[ -n "$pid" ] && { kill -TERM "-$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null; }; exit 130' \
  INT TERM HUP
timeout --kill-after=10 "$limit" "$@" </dev/null &
pid=$!
waited=0
while kill -0 "$pid" 2>/dev/null; do
  sleep 1
  waited=$((waited + 1))
  if [ "$every" -gt 0 ] && [ $((waited % every)) -eq 0 ] && kill -0 "$pid" 2>/dev/null; then
    printf '==> [%s/%s] %s: still running after %ss, in: %s\n' "$n" "$total" "$what" \
      "$(( $(date +%s) - start ))" "$(innermost "$pid")" >&2
  fi
done
wait "$pid"
code=$?
took=$(( $(date +%s) - start ))
if [ "$code" -eq 124 ] || { [ "$code" -eq 137 ] && [ "$took" -ge "$limit" ]; }; then
  printf '==> [%s/%s] %s TIMED OUT (stopped after %ss, the limit is %ss)%s\n' "$n" "$total" \
    "$what" "$took" "$limit" "${log:+; read $log}" >&2
  exit "$code"
fi
if [ "$code" -ne 0 ]; then
  printf '==> [%s/%s] %s FAILED (exit %s after %ss)%s\n' "$n" "$total" "$what" "$code" "$took" \
    "${log:+; read $log}" >&2
  exit "$code"
fi
printf '==> [%s/%s] %s: done in %ss\n' "$n" "$total" "$what" "$took" >&2
