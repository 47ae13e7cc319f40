#!/usr/bin/env bash
# The whole test suite, as the README gives it and CI runs it. It installs
# what the tests need (Debian packages via hack/install-test-deps.sh), then
# checks formatting and vet, runs every test (KILN_E2E=1: a missing tool is
# a failure, not a skip) and prints the benchmark figures.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH="$PATH:/usr/local/go/bin"
fi
command -v go >/dev/null || { echo "test.sh: Go is not installed; install the current Go toolchain first" >&2; exit 1; }

echo "== installing test dependencies"
bash hack/install-test-deps.sh
bash hack/install-test-tools.sh # oras, cosign (cached in $KILN_TEST_CACHE/bin)

echo "== gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.kiln/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
(cd examples/hello && go vet ./...)

echo "== tests"
KILN_E2E=1 go test -count=1 -timeout 60m ./...

echo "== fuzzing (each parser of untrusted input for FUZZTIME, default 10s)"
if FUZZTIME=${FUZZTIME:-10s} bash hack/fuzz.sh; then
	echo "fuzz: every target ran ${FUZZTIME:-10s} without a failure"
else
	echo "fuzz: a target failed; its input is saved under the package's testdata/fuzz/" >&2
	exit 1
fi

echo "== benchmark figures (printed, not asserted; see docs/performance.md)"
go test -run '^$' -bench Compression -benchtime 3x ./pkg/layer
BENCHTIME=1x bash bench/bigdata.sh
