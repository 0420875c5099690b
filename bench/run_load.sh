#!/usr/bin/env bash
# Runs the load scenarios of docs/performance.md against a Release custodiand
# on this machine and prints a summary table. Loopback only; stops by itself
# (every run is bounded by --duration or --time-limit, and the whole script
# by the sum of those); removes its temp dir and stops its custodiand on exit.
#
#   bash bench/run_load.sh                 # REPEATS=1, 20 s per measurement
#   REPEATS=3 DURATION=15s bash bench/run_load.sh
#
# Environment (defaults in brackets):
#   BUILD_DIR [build/load]  Release build dir; configured and built if needed
#   REPEATS [1]             runs per closed/open-loop scenario; the table
#                           shows the median (1..9)
#   DURATION [20s]          measured time per run; WARMUP [5s] before it
#   CONCURRENCY [64]        callers for the closed-loop scenarios
#   TEAMS [64]              teams per department of the generated ruleset
#   REPS_PER_TEAM [8]       reps per team (capacity 1,000,000 each)
#   IMPORT_COUNT [1000000]  customers of the BatchAssign import
#   IMPORT_CONCURRENCY [4]  batches outstanding during the import
#   IMPORT_LIMIT [5m]       the import stops issuing after this long
#   SERVER_FLAGS []         extra custodiand flags, e.g. --unsafe-disable-sync
#   KEEP [0]                1: keep the temp dir (reports, server logs)
#
# Scenarios: (1) assign, customers spread over TEAMS teams, with the empty
# RPC (grpc.health.v1.Health/Check) measured just before it in the same
# process as the baseline; (2) the same with every customer going to one
# team; (3) evaluate with its baseline; (4) assign spread, open loop at half
# the median saturating rate of (1), for p99; (5) a BatchAssign import of
# IMPORT_COUNT customers into a fresh store, with custodiand's peak RSS.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${BUILD_DIR:-build/load}
REPEATS=${REPEATS:-1}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
CONCURRENCY=${CONCURRENCY:-64}
TEAMS=${TEAMS:-64}
REPS_PER_TEAM=${REPS_PER_TEAM:-8}
IMPORT_COUNT=${IMPORT_COUNT:-1000000}
IMPORT_CONCURRENCY=${IMPORT_CONCURRENCY:-4}
IMPORT_LIMIT=${IMPORT_LIMIT:-5m}
SERVER_FLAGS=${SERVER_FLAGS:-}
KEEP=${KEEP:-0}

if ! [[ "$REPEATS" =~ ^[1-9]$ ]]; then
  echo "run_load.sh: REPEATS must be 1..9" >&2
  exit 2
fi

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCUSTODIAN_BUILD_TESTS=OFF -DCUSTODIAN_BUILD_BENCH=ON
fi
ninja -C "$BUILD_DIR" custodiand custodian_loadgen
CUSTODIAND=$BUILD_DIR/server/custodiand
LOADGEN=$BUILD_DIR/bench/custodian_loadgen

WORK=$(mktemp -d "${TMPDIR:-/tmp}/custodian-load.XXXXXX")
SERVER_PID=
SERVER_ADDR=

stop_server() {
  if [[ -n "$SERVER_PID" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    # custodiand drains in-flight calls (shutdown grace) and closes the store.
    for _ in $(seq 1 300); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}

cleanup() {
  stop_server
  if [[ "$KEEP" == 1 ]]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME: a fresh store in $WORK/NAME, bootstrapped with the
# generated roster and ruleset, on a free loopback port.
start_server() {
  local name=$1 log=$WORK/$1.server.log
  # shellcheck disable=SC2086  # SERVER_FLAGS is a list of flags
  "$CUSTODIAND" --listen 127.0.0.1:0 --data-dir "$WORK/$name" \
    --roster "$WORK/config/roster.yaml" \
    --ruleset "$WORK/config/ruleset.yaml" $SERVER_FLAGS >"$log" 2>&1 &
  SERVER_PID=$!
  SERVER_ADDR=
  for _ in $(seq 1 300); do
    SERVER_ADDR=$(sed -n 's/.* on \(127\.0\.0\.1:[0-9][0-9]*\); data dir.*/\1/p' \
      "$log" | head -n 1)
    [[ -n "$SERVER_ADDR" ]] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [[ -z "$SERVER_ADDR" ]]; then
    echo "run_load.sh: custodiand did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  echo "custodiand pid $SERVER_PID on $SERVER_ADDR ($name)"
}

# json_num FILE KEY [INDENT]: a number of the report's top level (INDENT 2)
# or of its "baseline" object (INDENT 4). The report is printed by
# custodian_loadgen --json with two-space indentation, one key per line.
json_num() {
  local indent=${3:-2}
  sed -n "s/^ \{$indent\}\"$2\": \([-0-9.eE+]*\),\{0,1\}$/\1/p" "$1" | head -n 1
}

# median VALUES...: the middle value (the lower middle for an even count).
median() {
  printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"
}

# run NAME ARGS...: REPEATS runs of custodian_loadgen, reports in
# $WORK/NAME.<i>.json. Exit status 3 (RPC not served) stops the scenario.
run() {
  local name=$1
  shift
  local i
  for i in $(seq 1 "$REPEATS"); do
    echo "== $name ($i/$REPEATS): custodian_loadgen $*"
    local status=0
    "$LOADGEN" --server "$SERVER_ADDR" --server-pid "$SERVER_PID" --json \
      --teams "$TEAMS" "$@" >"$WORK/$name.$i.json" 2>"$WORK/$name.$i.err" ||
      status=$?
    cat "$WORK/$name.$i.err" >&2
    if [[ $status -ne 0 ]]; then
      rm -f "$WORK/$name.$i.json"
      echo "   $name: custodian_loadgen exited with $status" >&2
      return 0
    fi
    echo "   ok/s $(json_num "$WORK/$name.$i.json" ok_per_s)" \
      "p99 $(json_num "$WORK/$name.$i.json" p99_ms) ms" \
      "failed $(json_num "$WORK/$name.$i.json" calls_failed)"
  done
}

# field NAME KEY [INDENT]: the median of KEY over NAME's reports, or "-".
field() {
  local name=$1 key=$2 indent=${3:-2} values=() f v
  for f in "$WORK/$name".*.json; do
    [[ -f "$f" ]] || continue
    v=$(json_num "$f" "$key" "$indent")
    [[ -n "$v" ]] && values+=("$v")
  done
  if [[ ${#values[@]} -eq 0 ]]; then
    echo "-"
  else
    median "${values[@]}"
  fi
}

fmt() { # fmt VALUE DECIMALS
  if [[ "$1" == "-" ]]; then echo "-"; else printf '%.*f' "$2" "$1"; fi
}

mkdir -p "$WORK/config"
"$LOADGEN" --write-config "$WORK/config" --teams "$TEAMS" \
  --reps-per-team "$REPS_PER_TEAM"

common=(--concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP")

start_server load
run assign-spread --rpc assign --mix spread --baseline "${common[@]}"
run assign-one-team --rpc assign --mix one-team --baseline "${common[@]}"
run evaluate --rpc evaluate --mix spread --baseline "${common[@]}"
saturated=$(field assign-spread ok_per_s)
if [[ "$saturated" != "-" ]]; then
  half=$(awk -v r="$saturated" 'BEGIN { printf "%d", r / 2 }')
  if [[ "$half" -ge 1 ]]; then
    run assign-half-rate --rpc assign --mix spread --rate "$half" \
      "${common[@]}"
  fi
fi
stop_server

start_server import
REPEATS=1 run batch-import --rpc batch-assign --mix spread \
  --count "$IMPORT_COUNT" --batch-size 1000 \
  --concurrency "$IMPORT_CONCURRENCY" --time-limit "$IMPORT_LIMIT"
stop_server

echo
echo "Summary: medians of $REPEATS run(s); $(nproc) cores; loadgen on the" \
  "same machine; server flags: ${SERVER_FLAGS:-none (synced writes)}"
printf '%-18s %11s %9s %9s %9s %11s %9s %8s\n' scenario "ok/s" "p50 ms" \
  "p99 ms" "p999 ms" "empty ok/s" "ratio" failed
for name in assign-spread assign-one-team evaluate assign-half-rate; do
  printf '%-18s %11s %9s %9s %9s %11s %9s %8s\n' "$name" \
    "$(fmt "$(field "$name" ok_per_s)" 0)" \
    "$(fmt "$(field "$name" p50_ms)" 2)" \
    "$(fmt "$(field "$name" p99_ms)" 2)" \
    "$(fmt "$(field "$name" p999_ms)" 2)" \
    "$(fmt "$(field "$name" ok_per_s 4)" 0)" \
    "$(fmt "$(field "$name" ratio_to_baseline)" 3)" \
    "$(field "$name" calls_failed)"
done
imported=$(field batch-import items_ok)
window=$(field batch-import window_s)
echo
printf 'batch-import: %s of %s customers in %s s (%s customers/s), ' \
  "$imported" "$IMPORT_COUNT" "$(fmt "$window" 1)" \
  "$(fmt "$(field batch-import items_per_s)" 0)"
mib() { # mib KIB-or-dash
  if [[ "$1" == "-" ]]; then echo "-"; else awk -v k="$1" 'BEGIN { printf "%d", k / 1024 }'; fi
}
printf 'item errors %s, server peak RSS %s MiB, loadgen peak RSS %s MiB\n' \
  "$(field batch-import items_failed)" \
  "$(mib "$(field batch-import server_peak_rss_kib)")" \
  "$(mib "$(field batch-import loadgen_peak_rss_kib)")"
if [[ "$imported" != "-" && "$imported" != "$IMPORT_COUNT" ]]; then
  echo "batch-import: incomplete: IMPORT_LIMIT=$IMPORT_LIMIT reached"
fi
