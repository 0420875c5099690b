#!/usr/bin/env bash
# Crash test of periodic review with the real binaries: an APPLY review over
# 450 customers (150 of them owned by a rep who then leaves) runs in a real
# custodiand with one customer per batch; the process is killed with
# SIGKILL while it applies fixes, restarted on the same data dir, and must
# resume the review and finish it with every fix applied exactly once: one
# REVIEW ownership event per ORPHANED finding, no finding lost or
# duplicated.
#
# Usage: review_crash_test.sh CUSTODIAND CUSTODIANCTL EXAMPLES_DIR
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 CUSTODIAND CUSTODIANCTL EXAMPLES_DIR" >&2
  exit 2
fi
custodiand=$1
custodianctl=$2
examples=$3
command -v jq >/dev/null || {
  echo "FAIL: jq is required (apt-get install jq)" >&2
  exit 1
}

readonly customers=450
readonly start_timeout_s=30
work=$(mktemp -d "${TMPDIR:-/tmp}/review_crash.XXXXXX")
pid=""
address=""

cleanup() {
  if [[ -n $pid ]]; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  local log
  for log in "$work"/*.log; do
    [[ -f $log ]] || continue
    echo "--- $log" >&2
    tail -n 50 "$log" >&2
  done
  exit 1
}

ctl() { "$custodianctl" --server "$address" --timeout 10s "$@"; }

# start LOG: custodiand on a free loopback port over $work/data, synced
# writes, one customer per review batch; waits until it answers.
start() {
  local log=$1
  : >"$log"
  "$custodiand" --listen 127.0.0.1:0 --data-dir "$work/data" \
    --roster "$examples/roster.yaml" \
    --ruleset "$examples/ruleset.yaml" \
    --review-batch-size 1 2>"$log" &
  pid=$!
  address=""
  local deadline=$((SECONDS + start_timeout_s))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || {
      pid=""
      fail "custodiand exited while starting"
    }
    if [[ -z $address ]]; then
      address=$(sed -n \
        's/.* serving .* on \(127\.0\.0\.1:[1-9][0-9]*\); data dir .*/\1/p' \
        "$log")
    fi
    if [[ -n $address ]] &&
      "$custodianctl" --server "$address" --timeout 1s roster get \
        >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  fail "custodiand did not answer within ${start_timeout_s}s"
}

start "$work/first.log"

# Manufacturing customers in the North: mfg-east, round robin over
# liu.yang, huang.min and zhou.tao (150 each).
for ((i = 1; i <= customers; i++)); do
  printf '{"id":"m%04d","region":"CN/North/Beijing","industry":"C/C39",' "$i"
  printf '"customer_type":"smb","sales_stage":"proposal"}\n'
done >"$work/customers.jsonl"
ctl assign --jsonl "$work/customers.jsonl" --request-id-prefix crash \
  --no-progress >/dev/null || fail "assign --jsonl exited $?"
ctl -o json owners --department sales --rep liu.yang --all >"$work/owned.json" ||
  fail "owners exited $?"
jq -r '.ownerships[].customer_id' "$work/owned.json" | sort >"$work/orphans"
orphans=$(wc -l <"$work/orphans")
((orphans == customers / 3)) || fail "liu.yang owns $orphans, not $((customers / 3))"
ctl rep set-status liu.yang --status left --reason "left the company" \
  --request-id crash-left >/dev/null || fail "rep set-status exited $?"

name=$(ctl -o json review start --mode apply --checks orphaned \
  --request-id crash-review | jq -r .name) || fail "review start exited $?"
[[ $name == reviews/* ]] || fail "review start printed $name"

# Wait until fixes are being applied, then kill -9.
applied=0
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
  status=$(ctl -o json review status "$name") || fail "review status exited $?"
  [[ $(jq -r '.done // false' <<<"$status") == false ]] ||
    fail "the review finished before the kill (make it longer)"
  applied=$(jq -r '.metadata.applied // "0"' <<<"$status")
  ((applied >= 5)) && break
  sleep 0.05
done
((applied >= 5)) || fail "no fixes applied within 60s"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=""
echo "killed custodiand with $applied fix(es) applied" >&2

start "$work/second.log"
grep -q "resuming review $name" "$work/second.log" ||
  fail "the restarted server did not resume $name"
ctl review status "$name" --wait --no-progress --poll-interval 100ms \
  >"$work/summary" || fail "review status --wait exited $?"
grep -q "$name SUCCEEDED: $customers/$customers customers checked, $orphans findings, $orphans applied" \
  "$work/summary" || fail "summary: $(cat "$work/summary")"

ctl review report "$name" --format json >"$work/report.json" ||
  fail "review report exited $?"
jq -e --argjson n "$orphans" '
  (.findings | length) == $n and
  ([.findings[] | select(.kind == "ORPHANED" and .status == "APPLIED")]
     | length) == $n and
  ([.findings[].customer_id] | unique | length) == $n' \
  "$work/report.json" >/dev/null || fail "report: findings are not $orphans applied orphans"
jq -r '.findings[].customer_id' "$work/report.json" | sort |
  diff - "$work/orphans" >/dev/null || fail "the findings are not liu.yang's customers"

# Exactly one REVIEW event per fixed customer, and the owner moved.
while read -r customer; do
  ctl -o json history "$customer" --department sales >"$work/history.json" ||
    fail "history $customer exited $?"
  n=$(jq '[.events[] | select(.cause == "REVIEW")] | length' "$work/history.json")
  ((n == 1)) || fail "$customer has $n REVIEW events"
  owner=$(jq -r '.events[-1].after.rep // .events[-1].after.pool' \
    "$work/history.json")
  [[ $owner != liu.yang ]] || fail "$customer still owned by liu.yang"
done <"$work/orphans"

kill -TERM "$pid"
wait "$pid" || fail "custodiand exited $? on SIGTERM"
pid=""
echo "PASS: $orphans fixes applied exactly once across a kill -9" >&2
