#!/usr/bin/env bash
# Times kiln on examples/hello and prints the median of RUNS runs (default 7)
# per scenario, with a warm Go build cache. See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/kiln" ./cmd/kiln
cp -r examples/hello "$work/hello"
rm -rf "$work/hello/.kiln"
cd "$work/hello"

# median_ms CMD...: runs CMD $RUNS times, prints the median wall time in ms.
median_ms() {
	local times=()
	for _ in $(seq "$RUNS"); do
		local start end
		start=$(date +%s%N)
		"$@" >/dev/null 2>&1
		end=$(date +%s%N)
		times+=($(((end - start) / 1000000)))
	done
	printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

K="$work/kiln"
"$K" build -q --platform linux/amd64,linux/arm64,linux/arm/v7 -o "oci:$work/warm" >/dev/null # warm the Go cache
"$K" build -q >/dev/null
echo "kiln $("$K" version), $(go version | cut -d' ' -f3), $(nproc) cores, median of $RUNS runs"
printf '%-52s %6s ms\n' "no-change rebuild (reuses .kiln build)" "$(median_ms "$K" build -q)"
printf '%-52s %6s ms\n' "go build of the same package (nothing to do)" "$(median_ms go build -trimpath -buildvcs=false -o "$work/bin" .)"
printf '%-52s %6s ms\n' "build to oci:DIR, linux/amd64 (warm Go cache)" "$(median_ms "$K" build -q -o "oci:$work/o1")"
printf '%-52s %6s ms\n' "build to oci:DIR, 3 platforms (warm Go cache)" "$(median_ms "$K" build -q --platform linux/amd64,linux/arm64,linux/arm/v7 -o "oci:$work/o3")"
