#!/usr/bin/env bash
# Achilles Workbench: the two commands.
#   ./run.sh            install dependencies, build (Release), start the workbench on the embedded model
#                       (no display, or --headless: run the CLI search and write ./achilles-out/)
#   ./run.sh test       install dependencies, build, run every test with ctest
#   ./run.sh build      install dependencies and build only
# libtorch source (default: Debian's libtorch 1.13, CPU):
#   ./run.sh --torch pip [run|test|build]   PyTorch's own libtorch from a pip wheel in a venv at ./.venv:
#                       the CUDA build where nvidia-smi shows a GPU, the CPU build elsewhere.
#   ACHILLES_TORCH=pip             same as --torch pip
#   ACHILLES_TORCH_VERSION=X.Y.Z   pin the torch release (default 2.13.0 on CPU, 2.14.1 with a GPU)
#   ACHILLES_TORCH_FLAVOR=cpu|cuda override the GPU detection
#   ACHILLES_TORCH_INDEX=URL       a pip index to take torch from (e.g. PyTorch's CPU wheel index)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
TORCH_SRC="${ACHILLES_TORCH:-debian}"
if [ "${1:-}" = "--torch" ]; then TORCH_SRC="${2:?--torch needs debian or pip}"; shift 2; fi
case "$TORCH_SRC" in debian|pip) ;; *) echo "run.sh: --torch must be debian or pip, got '$TORCH_SRC'" >&2; exit 2 ;; esac
cmd="${1:-run}"; [ $# -gt 0 ] && shift || true
JOBS="${JOBS:-$(nproc)}"
# ccache: paths relative to the checkout, so every clone and worktree shares one cache.
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1

deps() { "$ROOT/packaging/install-deps.sh"; }

# PyTorch's libtorch: a venv at ./.venv (git-ignored) with torch, plus transformers for the
# Hugging Face golden checks. Prints the CMake prefix path of its libtorch.
pip_torch() {
  local flavor="${ACHILLES_TORCH_FLAVOR:-}"
  if [ -z "$flavor" ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then flavor=cuda; else flavor=cpu; fi
  fi
  local ver="${ACHILLES_TORCH_VERSION:-}"
  [ -n "$ver" ] || { [ "$flavor" = cuda ] && ver=2.14.1 || ver=2.13.0; }
  local venv="$ROOT/.venv" py
  py="$(command -v python3)"
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv" >&2
  local have
  have="$("$venv/bin/python" -c 'import torch;print(torch.__version__.split("+")[0], "cuda" if torch.version.cuda else "cpu")' 2>/dev/null || true)"
  if [ "$have" != "$ver $flavor" ]; then
    echo "run.sh: installing torch $ver ($flavor) into .venv (have: ${have:-none})" >&2
    local idx=()
    [ -n "${ACHILLES_TORCH_INDEX:-}" ] && idx=(--index-url "$ACHILLES_TORCH_INDEX")
    "$venv/bin/pip" install -q "${idx[@]}" "torch==$ver" >&2
    "$venv/bin/python" -c 'import torch,sys; sys.exit(0 if torch.version.cuda or "'"$flavor"'" == "cpu" else 1)' \
      || { echo "run.sh: torch $ver in .venv is a CPU build, but a CUDA build was asked for" >&2; exit 1; }
  fi
  # The generator of the Hugging Face goldens (tests/reference/make_hf_fixtures.py) runs here too.
  "$venv/bin/python" -c 'import transformers, safetensors, numpy' 2>/dev/null \
    || "$venv/bin/pip" install -q "torch==$ver" numpy safetensors tokenizers sentencepiece 'transformers>=5' >&2
  TORCH_FLAVOR="$flavor"
  mapfile -t TORCH_ARGS < <("$ROOT/packaging/torch-cmake-args.sh" "$venv/bin/python" 2>/dev/null)
  [ ${#TORCH_ARGS[@]} -gt 0 ] || { "$ROOT/packaging/torch-cmake-args.sh" "$venv/bin/python"; exit 1; }
}

configure_build() {
  local launcher=() extra=()
  command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  if [ "$TORCH_SRC" = pip ]; then
    pip_torch
    BUILD="${ACHILLES_BUILD_DIR:-$ROOT/build/pip-$TORCH_FLAVOR}"
    extra=("${TORCH_ARGS[@]}" -DACHILLES_HF_PYTHON="$ROOT/.venv/bin/python")
  fi
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "${extra[@]}" "$@"
  cmake --build "$BUILD" -j "$JOBS"
}
BUILD="${ACHILLES_BUILD_DIR:-$ROOT/build/release}"

case "$cmd" in
  build) deps; configure_build ;;
  test)
    deps; configure_build
    cd "$BUILD"
    QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j "$JOBS" --timeout 1500
    ;;
  run|--headless)
    headless=0
    [ "$cmd" = "--headless" ] && headless=1
    for a in "$@"; do [ "$a" = "--headless" ] && headless=1; done
    [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && headless=1
    deps; configure_build
    if [ "$headless" = 1 ]; then
      out="$ROOT/achilles-out"
      mkdir -p "$out"
      echo "run: no display (or --headless): CLI search on the embedded model -> ./achilles-out/"
      "$BUILD/app/achilles-cli" search --model default --text-file "$ROOT/resources/demo-probe.txt" \
          --sweep 50 --baselines random,activation --out "$out/result.json" --figures "$out"
      # Figures (PNG, SVG, PDF) from the same renderer as the GUI's Export, offscreen.
      if [ -x "$BUILD/app/achilles" ]; then
        QT_QPA_PLATFORM=offscreen "$BUILD/app/achilles" --session "$out/result.json" --export-figures "$out" >/dev/null
      fi
      echo "run: wrote"; ls -1 "$out" | sed 's/^/  achilles-out\//'
    else
      exec "$BUILD/app/achilles" --model default --demo
    fi
    ;;
  *) echo "usage: ./run.sh [--torch debian|pip] [run|--headless|test|build]" >&2; exit 2 ;;
esac
