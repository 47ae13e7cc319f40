#!/usr/bin/env bash
# Splits kiln's edit rebuild of examples/hello into the go command it runs
# and kiln's own time around it, and times the same go build alone, with
# the garbage-collector settings kiln gave its go command, alternating.
#   bench/overhead.sh            RUNS=30 by default
# A `go` wrapper put first on kiln's PATH times the go command and notes
# its GOGC and GOMEMLIMIT. Paired differences (median, mean, standard
# error) say what each part costs:
#   kiln − go inside: kiln's own time (start, plan, layer, image, output)
#   go inside − go alone: how much slower the go command is under kiln
#   kiln − go alone: the whole difference
# See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/kiln" ./cmd/kiln
real_go=$(command -v go)
mkdir -p "$work/wrap"
cat >"$work/wrap/go" <<EOF
#!/bin/sh
[ "\$1" = build ] || exec "$real_go" "\$@"
s=\$(date +%s%N); "$real_go" "\$@"; rc=\$?; e=\$(date +%s%N)
echo "\$((e - s)) \${GOGC:-} \${GOMEMLIMIT:-}" >"$work/inside"
exit \$rc
EOF
chmod +x "$work/wrap/go"
for side in kiln go; do
	cp -r examples/hello "$work/hello-$side"
	rm -rf "$work/hello-$side/.kiln"
done
# kiln must not look anything up outside this machine.
export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1 CGO_ENABLED=0
n=0
edit() { n=$((n + 1)); echo "var benchEdit$n = $n" >>main.go; }
kiln_build() {
	cd "$work/hello-kiln" && edit
	local s e
	s=$(date +%s%N)
	PATH="$work/wrap:$PATH" "$work/kiln" build -q --sbom none --output "oci:$work/out" . >/dev/null
	e=$(date +%s%N)
	kiln=$((e - s))
	read -r inside gogc memlimit <"$work/inside"
}
go_build() {
	cd "$work/hello-go" && edit
	local s e
	s=$(date +%s%N)
	GOGC=$gogc GOMEMLIMIT=$memlimit go build -trimpath -buildvcs=false -o "$work/gobuild.bin" .
	e=$(date +%s%N)
	alone=$((e - s))
}
gogc= memlimit=
kiln_build # warm-up: caches, and the settings kiln gives its go command
go_build
: >"$work/samples"
for i in $(seq "$RUNS"); do
	if [ $((i % 2)) -eq 0 ]; then kiln_build; go_build; else go_build; kiln_build; fi
	echo "$kiln $inside $alone" >>"$work/samples"
done
echo "examples/hello, $RUNS edit builds each; kiln's go command ran with GOGC=${gogc:-unset} GOMEMLIMIT=${memlimit:-unset}; go alone the same"
awk '
function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
function show(name, a, n,   s, ss, i, m) { for (i = 1; i <= n; i++) { s += a[i]; ss += a[i] * a[i] } m = s / n
	printf "%-22s median %7.1f ms  mean %7.1f ms  (standard error %.1f)\n", name, med(a, n), m, sqrt((ss / n - m * m) / (n - 1)) }
{ n++; k[n] = $1 / 1e6; gi[n] = $2 / 1e6; ga[n] = $3 / 1e6; d1[n] = k[n] - gi[n]; d2[n] = gi[n] - ga[n]; d3[n] = k[n] - ga[n] }
END {
	printf "kiln %.1f ms, go inside %.1f ms, go alone %.1f ms (medians): kiln / go alone %.3f\n", med(k, n), med(gi, n), med(ga, n), med(k, n) / med(ga, n)
	show("kiln - go inside", d1, n); show("go inside - go alone", d2, n); show("kiln - go alone", d3, n)
}' "$work/samples"
