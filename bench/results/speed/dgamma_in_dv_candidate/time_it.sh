# issue 19: the candidate (kernels.diff applied to the tree) against the kernels before it, in .gpu/old/kernels:
#   mkdir -p .gpu/old && git archive 5467808 kernels | tar -x -C .gpu/old && git apply bench/results/speed/dgamma_in_dv_candidate/kernels.diff
# then, on the GPU, from the repository root: bash bench/results/speed/dgamma_in_dv_candidate/time_it.sh
source .gpu/setup.sh
export PYTHONUNBUFFERED=1
mkdir -p $OUT/g
for s in 8,4096,16,128 2,16384,16,128; do
  tag=$(echo $s | cut -d, -f1)
  PYTHONPATH=$PWD/.site:$PWD/.gpu/old:$PWD timeout 100 python bench/profile_kernels.py --shape $s --n-h 2 --gated 0,1 --passes fwd+bwd --repeats 10 --out $OUT/g/old_b$tag.json > $OUT/g/old_b$tag.log 2>&1; echo "old $s rc=$?"
  timeout 100 python bench/profile_kernels.py --shape $s --n-h 2 --gated 0,1 --passes fwd+bwd --repeats 10 --out $OUT/g/new_b$tag.json > $OUT/g/new_b$tag.log 2>&1; echo "new $s rc=$?"
done
python - <<'PY'
import json, glob, os
for f in sorted(glob.glob(os.environ["OUT"] + "/g/*.json")):
    for r in json.load(open(f))["rows"]:
        ks = r["kernels_ms"]
        print(os.path.basename(f), r["shape"], "g" if r["gated"] else "u", r["total_ms"], "dqk", ks.get("chunk_bwd_dqk"), "dv", ks.get("chunk_bwd_dv"), "states", ks.get("chunk_bwd_states"))
PY
