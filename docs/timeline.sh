#!/usr/bin/env bash
# Re-draws the timeline pictures of the README: examples/kv's losing seed
# (sim/timeline), the writes and the reads, into docs/timeline/ or the
# directory given.
#
#   docs/timeline.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-docs/timeline}")
mkdir -p "$out"
go run ./sim/timeline/internal/kvpicture "$out"
