#!/usr/bin/env bash
# Times two revisions of kiln against each other on examples/hello, runs
# alternating so that load drifts hit both alike, and prints each
# scenario's medians and their ratio (B/A). For checking that a change
# costs good builds no more than it should (issue 10's 5% bound).
#   bench/ab.sh REV_A REV_B          e.g. bench/ab.sh HEAD~1 HEAD
#   RUNS=9 bench/ab.sh ...           (default 7)
# Both revisions build the same program, each in its own copy, with a
# warm Go build cache. See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: bench/ab.sh REV_A REV_B" >&2; exit 2; }
RUNS=${RUNS:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in a b; do
	rev=$1
	[ "$side" = b ] && rev=$2
	mkdir -p "$work/src-$side"
	git archive "$rev" | tar -x -C "$work/src-$side"
	(cd "$work/src-$side" && CGO_ENABLED=0 go build -o "$work/kiln-$side" ./cmd/kiln)
	cp -r examples/hello "$work/hello-$side"
	rm -rf "$work/hello-$side/.kiln"
done

# ms CMD...: the wall time of CMD in milliseconds; a failure stops all.
ms() {
	local start end
	start=$(date +%s%N)
	if ! "$@" >/dev/null 2>"$work/err"; then
		echo "failed in $PWD: $*" >&2
		cat "$work/err" >&2
		exit 1
	fi
	end=$(date +%s%N)
	echo $(((end - start) / 1000000))
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# scenario NAME PREPARE ARGS...: PREPARE runs before each build (in the
# project), then kiln ARGS; A and B alternate which goes first.
scenario() {
	local name=$1 prepare=$2
	shift 2
	local ta=() tb=() i side
	for side in a b; do # warm-up
		(cd "$work/hello-$side" && eval "$prepare" && "$work/kiln-$side" "$@" >/dev/null 2>&1)
	done
	for i in $(seq "$RUNS"); do
		for side in $([ $((i % 2)) -eq 0 ] && echo "a b" || echo "b a"); do
			cd "$work/hello-$side"
			eval "$prepare"
			t=$(ms "$work/kiln-$side" "$@") || exit 1
			if [ "$side" = a ]; then ta+=("$t"); else tb+=("$t"); fi
		done
	done
	local ma mb
	ma=$(median "${ta[@]}")
	mb=$(median "${tb[@]}")
	printf '%-44s A %5s ms  B %5s ms  B/A %s   (A: %s; B: %s)\n' "$name" "$ma" "$mb" \
		"$(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", b/a}')" "${ta[*]}" "${tb[*]}"
}

echo "A = $1 ($(git rev-parse --short "$1")), B = $2 ($(git rev-parse --short "$2")), $RUNS runs each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
edit='echo "var benchEdit$(date +%s%N) = 1" >> main.go' # a new declaration each time
scenario "first build to oci:DIR (no .kiln)" 'rm -rf .kiln out' build -q -o oci:out
# Files written less than 2 s ago are hashed again on every build (their
# stat cannot yet be trusted, as git's index does): wait that out.
sleep 2
scenario "no-change rebuild" ':' build -q
scenario "rebuild after editing main.go" "$edit" build -q -o oci:out
scenario "three platforms after an edit" "$edit" build -q --platform linux/amd64,linux/arm64,linux/arm/v7 -o oci:out3
