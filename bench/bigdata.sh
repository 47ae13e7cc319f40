#!/usr/bin/env bash
# Builds an image with a 1 GiB data directory and prints kiln's peak memory
# and throughput. KILN_BENCH_DATA_MB changes the size. See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench BigData -benchtime "${BENCHTIME:-3x}" -v ./bench
