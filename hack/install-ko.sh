#!/usr/bin/env bash
# Installs ko v0.19.1 (the version kiln is compared with) with go install
# into a cache kept between runs, $KILN_BENCH_CACHE/bin (default
# ~/.cache/kiln-bench/bin), unless it is there already, and prints the
# binary's path on stdout. Used by bench/compare.sh and the e2e tests that
# compare kiln with ko.
set -euo pipefail
tools=${KILN_BENCH_CACHE:-$HOME/.cache/kiln-bench}/bin
mkdir -p "$tools"
if [ ! -x "$tools/ko" ] || [ "$("$tools/ko" version 2>/dev/null)" != "v0.19.1" ]; then
	echo "installing ko v0.19.1 into $tools" >&2
	GOBIN="$tools" go install github.com/google/ko@v0.19.1 >&2
fi
echo "$tools/ko"
