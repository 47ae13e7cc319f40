#!/usr/bin/env bash
# Installs the Go tools the supply-chain end-to-end tests run against, pinned,
# with go install from the Go module proxy, into a cache that outlives test
# runs: $KILN_TEST_CACHE/bin (default ~/.cache/kiln-test/bin).
#   oras    v1.3.6  lists (discover) and pulls OCI 1.1 referrers
#   cosign  v2.6.5  verifies signatures and attestations offline with a key
# cosign takes about 13 minutes to build on 2 cores, so it is built once and
# kept; a tool is rebuilt only when the cached binary is another version
# (read with go version -m). Idempotent; works from any cwd. Prints the bin
# directory on the last line.
set -euo pipefail

cache=${KILN_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-test}
bin="$cache/bin"
mkdir -p "$bin"

# tool NAME MODULE PACKAGE VERSION
tool() {
	local name=$1 module=$2 pkg=$3 version=$4
	if [ -x "$bin/$name" ] && go version -m "$bin/$name" 2>/dev/null | awk -v m="$module" -v v="$version" '$1=="mod" && $2==m && $3==v {found=1} END {exit !found}'; then
		return
	fi
	echo "install-test-tools: go install $pkg@$version into $bin (cosign takes ~13 min on 2 cores, once)" >&2
	local tmp
	tmp=$(mktemp -d)
	# go install names the binary after the package; build aside, then move
	# it in whole so an interrupted build never leaves a broken binary.
	GOBIN="$tmp" GOFLAGS= go install "$pkg@$version"
	mv "$tmp/$name" "$bin/$name"
	rmdir "$tmp"
}

tool oras oras.land/oras oras.land/oras/cmd/oras v1.3.6
tool cosign github.com/sigstore/cosign/v2 github.com/sigstore/cosign/v2/cmd/cosign v2.6.5
echo "$bin"
