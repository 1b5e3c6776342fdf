#!/bin/bash
# The next GPU call for these candidates, from the repository root on the device (OUT: where results go).
# Profiles main, 4 (gv: gate vectors from the preparation), 1+2 (walk) and 1+2+3 (pref) at the worst forward shape, runs the walk ablation, the GPU-only
# sync and fla-interop tests, bf16 verification of the candidates and the bf16 decoding rows, within WORK_S s.
set -u
c=bench/results/speed/untimed_candidates
ROOT=$PWD R=$OUT/r
mkdir -p $R
work() {
  nvidia-smi --query-gpu=name --format=csv,noheader > $R/gpu.txt
  for t in gv walk pref abl; do mkdir -p /tmp/$t && cp -r kernels bench theory proofs_check models tests /tmp/$t/; done
  (cd /tmp/walk && git apply $ROOT/$c/token_chunk_out.diff && git apply $ROOT/$c/walk_t16.diff) || echo walk: not applied
  (cd /tmp/pref && git apply $ROOT/$c/token_chunk_out.diff && git apply $ROOT/$c/walk_t16.diff \
     && git apply $ROOT/$c/walk_prefetch.diff) || echo pref: not applied
  (cd /tmp/abl && git apply $ROOT/$c/walk_ablation.diff) || echo abl: not applied
  (cd /tmp/gv && git apply $ROOT/$c/gate_vectors_in_prep.diff) || echo gv: not applied
  prof() {  # tree D variants tag
    (cd $1 && PYTHONPATH=$PYTHONPATH:$1 timeout 150 python bench/profile_kernels.py --shape 2,16384,16,$2 --n-h 3 \
       --gated 0,1 --passes fwd,fwd+bwd --variants $3 --repeats 10 --out $R/prof_$4_$2.json > $R/prof_$4_$2.log 2>&1)
  }
  prof $ROOT 128 default head; prof /tmp/gv 128 default gv; prof /tmp/walk 128 default,warps_out=8 walk
  prof /tmp/pref 128 default pref
  (cd /tmp/abl && timeout 150 python $ROOT/$c/walk_ablation.py $R/ablate.json > $R/ablate.log 2>&1)
  timeout 60 python -m pytest -q tests/kernels/test_kernels.py -k synchronise > $R/sync.log 2>&1
  timeout 90 python -m pytest -q -rs tests/models/test_fla_interop.py > $R/interop.log 2>&1
  prof $ROOT 64 default head; prof /tmp/gv 64 default gv; prof /tmp/pref 64 default pref; prof /tmp/walk 64 default walk
  for t in gv pref walk; do (cd /tmp/$t && timeout 90 python bench/verify_kernels.py --quick --dtypes bfloat16 \
     --backends triton --out $R/verify_${t}_quick.json > $R/verify_${t}_quick.log 2>&1); done
  timeout 120 python bench/speed.py --out $R/decode_bf16.json --only kind=decode,dtype_name=bfloat16 > $R/decode.log 2>&1
}
timeout ${WORK_S:-550} bash -c "$(declare -f work); c=$c ROOT=$ROOT R=$R; work"
for f in $R/prof_*.log; do echo "== $f"; grep '^|' $f | cut -c1-200; done
grep '^|' $R/ablate.log; tail -n 1 $R/sync.log $R/interop.log; tail -n 4 $R/verify_*_quick.log
cd $OUT && tar czf r.tgz r && rm -rf r   # the device returns at most 8 files
