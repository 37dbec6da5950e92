#!/usr/bin/env bash
# The GPU check (issue 23 item 5): at most 8 minutes on one GPU, one table, no network, nothing to set up.
#   bash benchmarks/gpu_check.sh             # on a GPU: writes benchmarks/results/gpu_check.json
#   bash benchmarks/gpu_check.sh --dry-run   # the same steps on the CPU at toy size (gpu_check_dry_run.json)
#   bash benchmarks/gpu_check.sh --json PATH # write the results file there instead (the test suite's dry run)
# Then `python -m benchmarks.report` puts the table in docs/benchmarks.md. The steps: benchmarks/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
case " $* " in *" --json"*) ;; *) set -- --record "$@" ;; esac
exec python -m benchmarks.gpu_check "$@"
