#!/usr/bin/env bash
# Record every results file docs/benchmarks.md is generated from, one benchmark after another (they must
# not share the cores), then regenerate the page. Run on an idle machine from the repository root:
#   bash benchmarks/record_all.sh            # about 45 minutes on 2 cores; the reproduce suite is 15+ of them
#   bash benchmarks/record_all.sh train app  # only the named steps
# Every step runs even if one fails. Missed targets are judged on the page, not by exit codes (only
# reproduce exits non-zero for a miss; any benchmark does when it breaks).
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
steps=(
  "train:python -m benchmarks.bench_train --record"
  "loader:python -m benchmarks.bench_loader --record"
  "retrieval:python -m benchmarks.bench_retrieval --record"
  "analyze:python -m benchmarks.bench_analyze --record"
  "analyze_training:python -m benchmarks.bench_analyze --resamples 200 --name analyze_training --record"
  "analyze_full:python -m benchmarks.bench_analyze --pairs 10000 --name analyze_full --record"
  "analyze_memory:python -m benchmarks.bench_analyze --pairs 100000 --memory-only --record"
  "million:python -m benchmarks.bench_million --record"
  "queue:python -m benchmarks.bench_queue --record"
  "app:python -m benchmarks.bench_app --record"
  "explore:python -m benchmarks.bench_explore --browser --record"
  "explore_million:python -m benchmarks.bench_explore_million --record"
  "compare:python -m benchmarks.bench_compare --browser --record"
  "aligned_umap:python -m benchmarks.bench_aligned_umap --record"
  "aligned_umap_quality:python -m benchmarks.bench_aligned_umap --quality --record"
  "store:python -m benchmarks.bench_store --browser --record"
  "reproduce:python -m benchmarks.bench_reproduce --record"
  "gpu_check:bash benchmarks/gpu_check.sh --dry-run"
)
python -c "from gapviz.science.projection import warm_umap; warm_umap()"
failed=()
for step in "${steps[@]}"; do
  name=${step%%:*} command=${step#*:}
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  echo "== $name: $command"
  $command || failed+=("$name")
  sleep 5  # let the last benchmark's servers and children exit before the next samples the machine
done
python -m benchmarks.report
if [ ${#failed[@]} -gt 0 ]; then echo "exited non-zero (an error, or a reproduce miss): ${failed[*]}"; exit 1; fi
