#!/usr/bin/env bash
# Smoke test of the real binaries: starts custodiand on a free port (it binds
# port 0 and logs the address it got) over a temp data dir, drives it with
# custodianctl, stops it with SIGTERM (exit code 0), and restarts it on the
# same data dir to check that the stored state is what it serves. Then
# checks authentication with the real binaries: the refusal to serve off
# loopback without it, static tokens, and their reload on SIGHUP.
#
# Usage: custodiand_smoke_test.sh CUSTODIAND CUSTODIANCTL EXAMPLES_DIR
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

readonly start_timeout_s=30
work=$(mktemp -d "${TMPDIR:-/tmp}/custodiand_smoke.XXXXXX")
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

# Prints why, then every server log, and fails.
fail() {
  echo "FAIL: $*" >&2
  local log
  for log in "$work"/*.log; do
    [[ -f $log ]] || continue
    echo "--- $log" >&2
    cat "$log" >&2
  done
  exit 1
}

# custodianctl against the running server.
ctl() { "$custodianctl" --server "$address" --timeout 5s "$@"; }

# start LOG [FLAGS...]: starts custodiand on a free loopback port and waits
# until `roster get` answers; sets pid and address.
start() {
  local log=$1
  shift
  : >"$log"  # exists before the server's first line: sed below reads it
  "$custodiand" --listen 127.0.0.1:0 --data-dir "$work/data" "$@" \
    2>"$log" &
  pid=$!
  address=""
  local deadline=$((SECONDS + start_timeout_s))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0
      wait "$pid" || rc=$?
      pid=""
      fail "custodiand exited with $rc while starting"
    fi
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

# stop: SIGTERM, then the exit code must be 0 within the start timeout.
stop() {
  kill -TERM "$pid"
  local deadline=$((SECONDS + start_timeout_s))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "custodiand still running after SIGTERM"
    sleep 0.1
  done
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [[ $rc -eq 0 ]] || fail "custodiand exited with $rc after SIGTERM, want 0"
}

# expect_list WHAT: `rules list` shows exactly version 1, active.
expect_list() {
  local out
  out=$(ctl rules list) || fail "$1: rules list exited $?"
  local want_header='VERSION  NAME         CREATED               BY                    ACTIVE'
  local want_row='1        acme-fy2026  [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z  custodiand-bootstrap  yes'
  [[ $(wc -l <<<"$out") -eq 2 ]] || fail "$1: rules list printed: $out"
  [[ $(sed -n 1p <<<"$out") == "$want_header" ]] ||
    fail "$1: rules list header: $out"
  sed -n 2p <<<"$out" | grep -qxE "$want_row" ||
    fail "$1: rules list row: $out"
}

# --- First start: the example roster and ruleset are loaded. ---------------
start "$work/first.log" --roster "$examples/roster.yaml" \
  --ruleset "$examples/ruleset.yaml"
grep -q "first-start bootstrap ran" "$work/first.log" ||
  fail "first start did not bootstrap"
expect_list "first start"

ctl -o json roster get >"$work/roster.json" ||
  fail "roster get -o json exited $?"
jq -e '.version == "1" and .updated_by == "custodiand-bootstrap"
       and (.roster.reps | length) == 12 and (.etag | length) > 0
       and .roster.reps[0].name == "张伟"' \
  "$work/roster.json" >/dev/null ||
  fail "roster get -o json: $(cat "$work/roster.json")"

out=$(ctl rep set-status li.na --status active --reason back \
  --request-id smoke-1) || fail "rep set-status exited $?"
[[ $out == "rep li.na: away → active (roster version 2)" ]] ||
  fail "rep set-status printed: $out"

stop

# --- Restart on the same data dir: the files are not read again. -----------
start "$work/second.log" --roster "$work/missing-roster.yaml" \
  --ruleset "$work/missing-ruleset.yaml"
grep -q "first-start bootstrap did not run" "$work/second.log" ||
  fail "restart bootstrapped again"
expect_list "restart"
ctl -o json roster get >"$work/roster.json" ||
  fail "roster get -o json exited $?"
jq -e '.version == "2" and .roster.reps[1].id == "li.na"
       and .roster.reps[1].status == "ACTIVE"' \
  "$work/roster.json" >/dev/null ||
  fail "roster after restart: $(cat "$work/roster.json")"

# Disputes through the binaries (local-dev has every role in every
# department and is no party to the appeal).
ctl assign --id smoke-c1 --region CN/East/Shanghai --industry C/C39 \
  --type enterprise --stage qualified --request-id smoke-assign >/dev/null ||
  fail "assign exited $?"
appeal=$(ctl -o json appeal file smoke-c1 --department sales \
  --claimant huang.min --reason "met them first" --request-id smoke-file |
  jq -r .id) || fail "appeal file exited $?"
[[ $appeal == ap-* ]] || fail "appeal file: $appeal"
rc=0
ctl appeal rule "$appeal" --decision uphold --reason r </dev/null \
  >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "appeal rule without confirmation exited $rc, want 2"
out=$(ctl appeal rule "$appeal" --decision overturn --reason r --yes) ||
  fail "appeal rule exited $?"
[[ $out == "appeal $appeal: overturned by local-dev: r" ]] ||
  fail "appeal rule printed: $out"
ctl appeal show "$appeal" | grep -q "local-dev  ruling overturn: r" ||
  fail "appeal show: $(ctl appeal show "$appeal")"
stop

# --- Authentication. ---------------------------------------------------------
rc=0
"$custodiand" --listen 0.0.0.0:0 --data-dir "$work/data" \
  2>"$work/refused.log" || rc=$?
[[ $rc -eq 2 ]] || fail "off loopback without authentication exited $rc, want 2"
grep -q "no authentication is configured" "$work/refused.log" ||
  fail "off loopback without authentication: $(cat "$work/refused.log")"

# write_tokens TOKEN PRINCIPAL: a token file with one admin token.
write_tokens() {
  local hash
  hash=$(printf %s "$1" | sha256sum | cut -d' ' -f1)
  printf 'tokens:\n  - sha256: %s\n    principal: %s\n    roles: [admin]\n    departments: ["*"]\n' \
    "$hash" "$2" >"$work/tokens.yaml"
}
write_tokens smoke-token-one alice
export CUSTODIAN_TOKEN=smoke-token-one  # start() and ctl use it
start "$work/third.log" --token-file "$work/tokens.yaml"
out=$(ctl whoami) || fail "whoami exited $?"
grep -qxE 'principal +alice' <<<"$out" || fail "whoami printed: $out"
rc=0
CUSTODIAN_TOKEN="" ctl whoami >/dev/null 2>"$work/noauth.err" || rc=$?
[[ $rc -eq 1 ]] && grep -q UNAUTHENTICATED "$work/noauth.err" ||
  fail "whoami without a token: exit $rc, $(cat "$work/noauth.err")"
# The change made in local development mode is in the audit log.
out=$(ctl audit --principal local-dev) || fail "audit exited $?"
grep -qE 'RosterService.SetRepStatus +smoke-1 ' <<<"$out" ||
  fail "audit printed: $out"

write_tokens smoke-token-two bob
kill -HUP "$pid"
deadline=$((SECONDS + start_timeout_s))
until grep -q "credentials reloaded" "$work/third.log"; do
  ((SECONDS < deadline)) || fail "no reload after SIGHUP"
  sleep 0.1
done
out=$(CUSTODIAN_TOKEN=smoke-token-two ctl whoami) ||
  fail "whoami with the new token exited $?"
grep -qxE 'principal +bob' <<<"$out" || fail "whoami printed: $out"
CUSTODIAN_TOKEN=smoke-token-one ctl whoami >/dev/null 2>&1 &&
  fail "the old token still works after SIGHUP"
export CUSTODIAN_TOKEN=smoke-token-two
stop

echo "PASS"
