#!/usr/bin/env bash
# Starts `orc serve` on the demo board (scripts/demo-board.sh) and
# screenshots its live page with headless Chromium into assets/serve.png
# (the picture in the README's "Live dashboard and API").
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
orc="${CARGO_TARGET_DIR:-$here/target}/release/orc"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
cd "$work"
bash "$here/scripts/demo-board.sh" "$orc"
"$orc" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>/dev/null &
server=$!
# The first line names the address once the server listens.
until grep -q "listening on" "$work/serve.out" 2>/dev/null; do
  kill -0 "$server" 2>/dev/null || { echo "orc serve did not start" >&2; exit 1; }
  sleep 0.05
done
url="$(sed -n 's/^orc serve: listening on //p' "$work/serve.out")"
mkdir -p "$here/assets"
# Chromium takes the picture once the page has loaded; the page's event
# stream stays open, so a virtual-time budget would never run out (and a
# hung browser is stopped after a minute).
timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --hide-scrollbars --window-size=1280,1500 \
  --screenshot="$here/assets/serve.png" "$url/" 2>/dev/null
echo "wrote $here/assets/serve.png"
