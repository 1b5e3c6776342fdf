#!/usr/bin/env bash
# The command line's GPU paths on a CUDA machine: backend auto (= triton) in bf16, fla through the CLI,
# its refusals (fla in float32, triton on the CPU of a GPU machine), a program saved as safetensors and
# run again from the file, a planar one-layer program (Z_9), then the hardening tests with a GPU present.
# Usage: bench/cli_gpu.sh OUT_DIR [FIRST_STEP]   (the package and rich/safetensors/fla-core on PYTHONPATH)
# Writes OUT_DIR/runs.tsv (command, exit status, last stderr line, result) and OUT_DIR/log.txt (every run's
# stdout and stderr). The tests run without their command-line fuzzer, which compiles Triton kernels for
# every new shape it draws on a GPU (minutes); CI runs it on the CPU.
set -u
out=${1:?usage: bench/cli_gpu.sh OUT_DIR [FIRST_STEP]}
first=${2:-1}
mkdir -p "$out"
[ "$first" -gt 1 ] || printf 'run\texit\tstderr (last line)\tresult\n' > "$out/runs.tsv"
n=0
step() {
  n=$((n + 1))
  [ "$n" -ge "$first" ] || return 0
  local start=$SECONDS
  python3 -m proofs_check "$@" > "$out/run.out" 2> "$out/run.err"
  local code=$?
  local result
  result=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["backend"], r["dtype"], "accuracy", r["accuracy"], "first_error", r["first_error"], "max_state_error", r["max_state_error"])' "$out/run.out" 2>/dev/null)
  printf '%s\t%s\t%s\t%s (%s s)\n' "$*" "$code" "$(tail -n 1 "$out/run.err")" "$result" "$((SECONDS - start))" >> "$out/runs.tsv"
  { echo "== $* (exit $code)"; cat "$out/run.out" "$out/run.err"; } >> "$out/log.txt"
  rm -f "$out/run.out" "$out/run.err"
}
step simulate --group S4 --length 4000 --words 4 --device cuda --backend auto --dtype bfloat16 --json "$out/s4_bf16.json"
step simulate --group S4 --length 4000 --words 4 --device cuda --backend fla --dtype bfloat16
step simulate --group S4 --length 100 --device cuda --backend fla --dtype float32
step simulate --group S4 --length 100 --device cpu --backend triton --dtype float32
step simulate --group D8 --layers 2 --length 4000 --words 2 --device cuda --backend triton --dtype float32 --save "$out/d8.safetensors"
step simulate --program "$out/d8.safetensors" --length 4000 --words 2 --device cuda --backend triton --dtype float32
step simulate --group Z9 --length 4000 --words 2 --device cuda --backend triton --dtype float32
python3 -m pytest -q -p no:cacheprovider -k "not fuzzed" tests/test_cli.py tests/test_loading.py tests/test_documents.py \
  >> "$out/log.txt" 2>&1
printf 'pytest test_cli test_loading test_documents (not the fuzzer)\t%s\t%s\t\n' "$?" "$(tail -n 1 "$out/log.txt")" >> "$out/runs.tsv"
column -t -s $'\t' "$out/runs.tsv"
