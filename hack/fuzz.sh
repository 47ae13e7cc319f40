#!/usr/bin/env bash
# Runs each fuzz target for FUZZTIME (default 10s), one after another, and
# stops at the first failure (the failing input is then saved under the
# package's testdata/fuzz/<target>/ by go test; commit it as a regression
# seed once fixed). Usage: hack/fuzz.sh [TARGET...], e.g.
#   FUZZTIME=1m hack/fuzz.sh FuzzParse
#
# The fuzz targets, each with seeds in f.Add and in testdata/fuzz/<target>/
# (plain 'go test' runs the seeds):
#   FuzzParse          ./pkg/config          kiln.yaml (config.Parse)
#   FuzzLoad           ./pkg/runtime/python  pyproject.toml and requirements.txt
#                                            (python.Load, hasDeps, requires-python,
#                                            pip arguments)
#   FuzzDockerConfig   ./pkg/registry        docker config.json / podman auth.json
#                                            (docker/cli config.Load and
#                                            LoadFromReader, as the keychain and
#                                            kiln login use them)
#   FuzzResolveCached  ./pkg/base            manifests, indexes and configs of a
#                                            base (Resolve, from the cache only)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH="$PATH:/usr/local/go/bin"
fi

FUZZTIME=${FUZZTIME:-10s}
targets=(
	"FuzzParse ./pkg/config"
	"FuzzLoad ./pkg/runtime/python"
	"FuzzDockerConfig ./pkg/registry"
	"FuzzResolveCached ./pkg/base"
)

for t in "${targets[@]}"; do
	read -r name pkg <<<"$t"
	if [ $# -gt 0 ]; then
		wanted=false
		for a in "$@"; do [ "$a" = "$name" ] && wanted=true; done
		$wanted || continue
	fi
	echo "== $name ($pkg, $FUZZTIME)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"
done
