#!/usr/bin/env bash
# Commit a study's finished runs (their small files: config, environment, log, metrics, pictures; .gitignore
# keeps checkpoints, cached codes and samplers out) and its records, so a later session or a fresh clone
# counts them as done, with its report rebuilt from them:   bash bench/commit_results.sh results/study-probe
# (the folder's name is the study's preset name; ISOGEN= names another isogen executable)
set -euo pipefail
out=${1:?usage: bash bench/commit_results.sh results/STUDY}
isogen=${ISOGEN:-.venv/bin/isogen}
finished() { compgen -G "$out/runs/*/metrics.json" | wc -l; }
# The report is rebuilt here, from the same finished runs that are staged: a run that finishes in between
# (a study may be running beside this) sends it round again, so the commit never holds a stale report.
while :; do
  before=$(finished)
  if [ "$before" -gt 0 ]; then  # the first runs of a study still running get its first report here
    "$isogen" study "$(basename "$out")" --out "$out" --report-only --no-progress > /dev/null
  fi
  staged=0
  for metrics in "$out"/runs/*/metrics.json; do
    [ -e "$metrics" ] || continue
    git add "$(dirname "$metrics")"
    staged=$((staged + 1))
  done
  [ "$staged" -eq "$before" ] && break
  echo "a run finished while the report was rebuilt; rebuilding it again"
done
git add "$out"/*.json "$out"/*.jsonl 2>/dev/null || true
if [ -d "$out/report" ]; then
  git add "$out/report"
  # a file over 2 MB (a self-contained HTML report, a large grid) stays out: --report-only rebuilds it
  while IFS= read -r big; do
    git rm -q --cached "$big"
    echo "left out (over 2 MB; rebuilt by isogen study ... --report-only): $big"
  done < <(git diff --cached --name-only -- "$out/report" | while IFS= read -r f; do
             [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 2097152 ] && echo "$f"; done)
fi
if git diff --cached --quiet; then
  echo "nothing new in $out"
else
  git commit -q -m "$(basename "$out"): $staged finished runs committed"
  echo "committed $out: $staged finished runs"
fi
