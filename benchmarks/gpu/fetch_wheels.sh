#!/usr/bin/env bash
# Run HERE (a machine that reaches the package registry), once per session, before benchmarks/gpu/run.sh goes to the
# GPU machine. That machine has PyTorch, transformers 5.17 and huggingface_hub 1.x but no diffusers and cannot fetch
# packages: this downloads the versions we test with into .whl/ (git-ignored through .git/info/exclude) for the
# device tool's `carry`. Pure-Python wheels except regex (transformers 5.24 asks for regex >= 2025.10.22).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    diffusers==0.42.1 transformers==5.24.0 "regex==2025.11.3"
ls -la .whl
