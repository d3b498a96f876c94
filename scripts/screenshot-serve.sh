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
  rm -rf "$work"
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
# The virtual-time budget lets the page's script connect its event stream
# before the picture is taken.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --hide-scrollbars --window-size=1280,1500 \
  --virtual-time-budget=3000 --screenshot="$here/assets/serve.png" "$url/" 2>/dev/null
echo "wrote $here/assets/serve.png"
