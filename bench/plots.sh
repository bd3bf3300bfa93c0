#!/usr/bin/env bash
# Re-draws the plots of BENCHMARKS.md: the bulk MTU sweep and the
# round-trip distributions, three runs each, then the plot module draws
# them (PNG and SVG) into docs/bench/ or the directory given.
#
#   bench/plots.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-docs/bench}")
mkdir -p "$out"
go build -o "$out/.usertcp" ./cmd/usertcp
trap 'rm -f "$out/.usertcp"' EXIT
"$out/.usertcp" bench --only bulk --conns 1 --dirs up --mtus 1500,4000,9000,16000,32000,65520 \
  --runs 3 --json > "$out/mtu.json"
"$out/.usertcp" bench --only rtt --mtus 1500 --runs 3 --samples --json > "$out/rtt.json"
(cd bench/plot && go run . -mtu "$out/mtu.json" -rtt "$out/rtt.json" -out "$out")
