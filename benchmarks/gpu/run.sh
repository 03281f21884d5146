#!/usr/bin/env bash
# Issue 8's GPU tables in one call of the device tool (run from the repository root):
#   here:    bash benchmarks/gpu/fetch_wheels.sh
#   device:  run(command="bash benchmarks/gpu/run.sh", carry=[".whl"], timeout_s=570)
# Installs the carried wheels and this package into /tmp/site (no network), then times generation (Table 1,
# Figure 2), the train step and the compiled decoder on CUDA. Everything lands in $OUT (≤ 8 files: the device tool's
# limit); copy the JSON/PNG into benchmarks/results/ and commit them. generation.py rewrites its JSON after every case, so a run cut
# short by the time limit still brings back what it measured. Extra arguments go to every benchmark run, e.g.
# `bash benchmarks/gpu/run.sh --quick --device cpu` as a smoke test here.
# Both benchmarks run with --no-isolate here: a fresh process per case costs its imports (and CUDA start-up) each
# time (≈ 7 s on our CPU: train_step --quick took 125 s isolated, 12 s not), ×16 cases of generation and ×32 rows of
# train_step, out of the device's 15 minutes; the state effect that isolation guards against was seen in the CPU
# heap (after uncached SLATE at 128 px), and CUDA peak memory is reset per row anyway. Pass --isolate to override.
set -uo pipefail
OUT="${OUT:-/tmp/mogent_gpu_results}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
{
    if [ -d .whl ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    fi
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
    python3 -c "import torch, transformers, diffusers, mogent_hf; print('torch', torch.__version__, 'cuda',
torch.cuda.is_available(), 'transformers', transformers.__version__, 'diffusers', diffusers.__version__,
'mogent_hf from', mogent_hf.__file__)"
} >"$OUT/setup.log" 2>&1 || { cat "$OUT/setup.log"; exit 1; }
cat "$OUT/setup.log"
timeout 300 python3 benchmarks/generation.py --no-isolate --output "$OUT/generation_cuda.json" "$@" 2>&1 | tee "$OUT/generation_cuda.log"
echo "generation: exit ${PIPESTATUS[0]} after $(($(date +%s) - start)) s"
# The fast decoding setting (T = 12 with cached sub-steps every 4) against T = 20 and SLATE-KV, batch 1 and 32.
timeout 120 python3 benchmarks/decoding_strategies.py --no-isolate --skip_quality --device cuda --rounds 2 \
    --speed_strategies T20 T12_cached_k4 --cases 3dshapes:64:1 3dshapes:64:32 clevr:128:32 --slate_modes slate_kv \
    --output "$OUT/decoding_strategies_cuda.json" 2>&1 | tee "$OUT/decoding_strategies_cuda.log"
echo "decoding_strategies: exit ${PIPESTATUS[0]} after $(($(date +%s) - start)) s"
timeout 130 python3 benchmarks/train_step.py --no-isolate --output "$OUT/train_step_cuda.json" "$@" 2>&1 | tee "$OUT/train_step_cuda.log"
echo "train_step: exit ${PIPESTATUS[0]} after $(($(date +%s) - start)) s"
# Last, as the least needed: the decoder under torch.compile with CUDA graphs (the "if they pay"), clevr batch 1.
timeout 80 python3 benchmarks/generation.py --no-isolate --presets clevr --batch_sizes 1 --modes mogent mogent_compiled \
    --no-include_encoding --output "$OUT/generation_cuda_compiled.json" "$@" 2>&1 | tee "$OUT/generation_cuda_compiled.log"
echo "compiled: exit ${PIPESTATUS[0]} after $(($(date +%s) - start)) s"
ls -la "$OUT"
