#!/usr/bin/env bash
# Kills kiln with SIGKILL at random moments of builds, pushes and archive
# writes, TRIALS times (default 60), and prints how many trials left
# everything intact (see TestKillTrials in test/e2e/killtrials_test.go and
# docs/reliability.md). Usage: TRIALS=100 hack/kill-trials.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KILN_E2E=1 KILN_KILL_TRIALS=${TRIALS:-60} go test -count=1 -timeout 60m -run '^TestKillTrials$' -v ./test/e2e | grep -E 'KILL TRIALS|trial [0-9]+|^(ok|FAIL|---)'
