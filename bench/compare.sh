#!/usr/bin/env bash
# Times kiln against ko v0.19.1 on the same projects and outputs and prints
# raw figures, medians, kiln/ko ratios and peak memory. It installs ko with
# go install into a scratch folder (kept in ~/.cache/kiln-bench between
# runs), starts a Distribution registry on 127.0.0.1 and pushes a small
# static base image there for ko (and kiln, so both build on the same base).
#   RUNS=5 bench/compare.sh      (PROJECTS=hello times only examples/hello;
#                                 SCENARIOS=edit only the scenarios named so)
# Every scenario is timed with SBOMs off (kiln --sbom none, ko --sbom=none)
# and, in a column of its own, on (both tools' default: SPDX).
# See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/install-test-deps.sh >/dev/null
ko=$(bash hack/install-ko.sh)
work=/tmp/kiln-bench-$$
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/bin/kiln" ./cmd/kiln
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
go run ./bench/compare -runs "${RUNS:-5}" -projects "${PROJECTS:-hello,kiln}" -scenarios "${SCENARIOS:-}" -ko "$ko" -kiln "$work/bin/kiln" -work "$work" -repo "$PWD"
