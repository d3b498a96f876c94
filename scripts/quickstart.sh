#!/usr/bin/env bash
# Builds orc and runs the OpSpawn quick start with it in a throwaway
# repository, printing each command before it runs.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
orc="$here/target/release/orc"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q -b main
git -c user.name=you -c user.email=you@example.com commit -q --allow-empty -m "your project"
git config user.name "you"
git config user.email "you@example.com"

run() { printf '\n$ orc %s\n' "$*"; "$orc" "$@"; }
run status
run ws create revenue "Revenue generation" 1
run ws create product "Product development" 2
printf '\n$ orc t add revenue "Add payments to API" "Integrate USDC" 1\n'
task_id=$("$orc" t add revenue "Add payments to API" "Integrate USDC" 1)
echo "$task_id"
run t add product "Write tests" "Unit and integration" 3
run a register agent-1 worker
run t next revenue agent-1
run t complete revenue "$task_id" "Done: integrated payments"
run status
printf '\n$ git log --oneline orc\n'
git log --oneline orc
