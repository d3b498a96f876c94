#!/usr/bin/env bash
# Renders the dashboard of a realistic board (5 workstreams, 60 tasks,
# 6 agents, locks, events, knowledge) and screenshots it with headless
# Chromium into docs/screenshot.png (the picture in the README).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
orc="${CARGO_TARGET_DIR:-$here/target}/release/orc"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
bash "$here/scripts/demo-board.sh" "$orc"
"$orc" dashboard --out "$work/out" >/dev/null
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --hide-scrollbars --window-size=1280,1500 \
  --screenshot="$here/docs/screenshot.png" "file://$work/out/docs/index.html" 2>/dev/null
echo "wrote $here/docs/screenshot.png"
