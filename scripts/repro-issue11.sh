#!/usr/bin/env bash
# Runs the regression tests of issue 11 ("One correct core") N times (default
# 20) and prints how often each passed: the self-deadlock of sync, a publish
# killed after its push landed, a forged trailer, an invalid operation built
# from JSON, and a replayed idempotency key.
#   bash scripts/repro-issue11.sh [N]
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
cargo test --locked --test it --no-run -q 2>/dev/null || cargo test --locked --test it --no-run
declare -A passed
tests=(
  issue11_sync_replaying_local_work_made_during_its_push_does_not_deadlock
  issue11_publish_killed_after_its_push_landed_is_applied_once
  issue11_event_data_with_envelope_keys_cannot_forge_the_trailer
  issue11_an_invalid_operation_built_from_json_is_refused
  issue11_replay_keeps_each_idempotency_key_on_its_own_operation
)
for t in "${tests[@]}"; do passed[$t]=0; done
start=$(date +%s)
for ((i = 1; i <= runs; i++)); do
  out=$(cargo test --locked --test it regressions:: -- --test-threads=5 2>&1)
  for t in "${tests[@]}"; do
    if grep -q "test regressions::$t ... ok" <<<"$out"; then
      passed[$t]=$((passed[$t] + 1))
    fi
  done
done
echo "| regression | passed |"
echo "|---|---|"
for t in "${tests[@]}"; do echo "| $t | ${passed[$t]}/$runs |"; done
echo "($(($(date +%s) - start)) s for $runs rounds)"
