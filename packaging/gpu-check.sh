#!/usr/bin/env bash
# One GPU check, in one command, on a machine with an NVIDIA GPU and a CUDA PyTorch (python3 -c 'import torch'):
#   packaging/gpu-check.sh [--quick]
# 1. builds core and the CLI (no Qt) against that PyTorch's libtorch, in build/gpu
# 2. parity on cuda: the CLI against the float64 goldens of tests/fixtures (project reference) and
#    tests/fixtures/hf (Hugging Face transformers) in fp32 (tol 1e-4 relative) and bf16 compute
#    (tol 5e-2 on per-token NLL; greedy tokens checked in fp32 only)
# 3. greedy generation and a search (paper settings, K=100) on the planted fixture on cuda, with the
#    planted channel expected at rank 1
# 4. the benchmark on cuda (achilles-cli bench --device cuda)
# 5. a layer placement over two devices when there are two
# and prints one summary table at the end. Debian packages missing on the machine can be carried as
# .debs in ./.gpudeps (packaging/gpu-deps.sh downloads them); they are unpacked into a private prefix.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUICK=0; [ "${1:-}" = "--quick" ] && QUICK=1
PY="${ACHILLES_GPU_PYTHON:-python3}"
BUILD="$ROOT/build/gpu"
LOG="${OUT:-$ROOT/build}/gpu-check"
mkdir -p "$LOG"
ROWS=()
row() { ROWS+=("$(printf '| %-34s | %-6s | %s |' "$1" "$2" "$3")"); echo "== $1: $2 $3"; }
t0=$(date +%s)

if ! nvidia-smi -L >/dev/null 2>&1; then echo "gpu-check: no NVIDIA GPU visible (nvidia-smi -L failed)" >&2; exit 2; fi
gpus=$(nvidia-smi -L | grep -c '^GPU')
info=$("$PY" -c 'import torch;print(torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")' 2>&1) \
  || { echo "gpu-check: $PY has no torch: $info" >&2; exit 2; }
row "machine" "info" "$gpus GPU(s); torch $info"
case "$info" in *" True "*) ;; *) echo "gpu-check: torch does not see CUDA: $info" >&2; exit 2 ;; esac

# Carried Debian packages (headers and the sentencepiece bridge's libraries).
PREFIX_EXTRA=""
if ls "$ROOT"/.gpudeps/*.deb >/dev/null 2>&1; then
  D=/tmp/achilles-gpudeps
  rm -rf "$D"; mkdir -p "$D"
  for f in "$ROOT"/.gpudeps/*.deb; do dpkg-deb -x "$f" "$D" 2>/dev/null || dpkg -x "$f" "$D"; done
  PREFIX_EXTRA=";$D/usr"
  export LD_LIBRARY_PATH="$D/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_PATH="$D/usr/lib/x86_64-linux-gnu/pkgconfig:$D/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export CPATH="$D/usr/include${CPATH:+:$CPATH}"
fi
mapfile -t TORCH_ARGS < <("$ROOT/packaging/torch-cmake-args.sh" "$PY" 2>"$LOG/torch-args.err")
[ ${#TORCH_ARGS[@]} -gt 0 ] || { cat "$LOG/torch-args.err" >&2; exit 2; }
TORCH_ARGS[0]="${TORCH_ARGS[0]}$PREFIX_EXTRA"   # -DCMAKE_PREFIX_PATH=<torch>;<carried debs>

# 1. build
b0=$(date +%s)
if cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DACHILLES_BUILD_GUI=OFF \
     -DACHILLES_TEST_DEVICE=cuda -DACHILLES_HF_PYTHON="$(command -v "$PY")" \
     "${TORCH_ARGS[@]}" >"$LOG/configure.log" 2>&1 \
   && cmake --build "$BUILD" -j "$(nproc)" >"$LOG/build.log" 2>&1; then
  row "build core + CLI (no Qt)" "PASS" "$(( $(date +%s) - b0 )) s; ${TORCH_ARGS[0]#-D}"
else
  row "build core + CLI (no Qt)" "FAIL" "see $LOG/build.log: $(grep -m1 -E 'error|Error' "$LOG/configure.log" "$LOG/build.log" | cut -c1-160)"
  printf '%s\n' "| step | result | detail |" "|---|---|---|" "${ROWS[@]}"; exit 1
fi
CLI="$BUILD/app/achilles-cli"
"$CLI" info --model "$ROOT/tests/fixtures/hf/llama3" --device cuda >"$LOG/info.log" 2>&1 \
  && row "available devices / load on cuda" "PASS" "$(grep -m1 "libtorch" "$LOG/info.log" | tr -s ' ' | cut -c1-100)" \
  || row "available devices / load on cuda" "FAIL" "$(tail -1 "$LOG/info.log")"

# 2. parity
parity() {  # label fixtures dtype
  local out="$LOG/parity-$(basename "$2")-$3.log"
  /usr/bin/env "$PY" "$ROOT/tests/reference/check_cli_parity.py" --cli "$CLI" --fixtures "$2" --device cuda --dtype "$3" >"$out" 2>&1
  local rc=$? last; last=$(tail -1 "$out")
  local worst; worst=$(grep -o 'max rel err [0-9.e+-]*' "$out" | awk '{print $4}' | sort -g | tail -1)
  row "$1" "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$last; worst NLL rel err ${worst:-?}"
}
parity "parity cuda f32, project goldens" "$ROOT/tests/fixtures" f32
parity "parity cuda f32, HF goldens" "$ROOT/tests/fixtures/hf" f32
parity "parity cuda bf16, HF goldens" "$ROOT/tests/fixtures/hf" bf16
if [ "$gpus" -ge 2 ]; then
  out="$LOG/placement.log"
  ids=$("$PY" -c 'import json;print(",".join(map(str,json.load(open("tests/fixtures/hf/llama3/golden.json"))["ids"][0])))')
  a=$("$CLI" --json --quiet ppl --model tests/fixtures/hf/llama3 --device cuda:0 --dtype f32 --ids "$ids" 2>>"$out")
  b=$("$CLI" --json --quiet ppl --model tests/fixtures/hf/llama3 --devices cuda:0,cuda:1 --dtype f32 --ids "$ids" 2>>"$out")
  same=$("$PY" -c 'import json,sys;a,b=json.loads(sys.argv[1])["ppl"],json.loads(sys.argv[2])["ppl"];print("PASS" if abs(a-b)<=1e-5*a else "FAIL", a, b)' "$a" "$b" 2>&1)
  row "placement over cuda:0,cuda:1" "${same%% *}" "ppl one device vs two: ${same#* }"
else
  row "placement over two devices" "SKIP" "one GPU"
fi

# 3. generation and search on cuda
ids=$("$PY" -c 'import json;print(",".join(map(str,json.load(open("tests/fixtures/search/golden.json"))["ids"])))')
s0=$(date +%s)
if "$CLI" --json --quiet generate --model tests/fixtures/hf/qwen2 --device cuda --ids 1,5,9,13 --greedy --max-new 16 --no-stop >"$LOG/generate.json" 2>"$LOG/generate.err"; then
  row "greedy generation on cuda" "PASS" "16 tokens in $(( $(date +%s) - s0 )) s"
else row "greedy generation on cuda" "FAIL" "$(tail -1 "$LOG/generate.err")"; fi
s0=$(date +%s)
search_args=(--model tests/fixtures/search/planted --device cuda --samples 100 --alpha 5 --seed 42 --epsilon 0.5 --max-steps 50)
search_args+=(--ids "$ids")
if "$CLI" --json --quiet search "${search_args[@]}" --out "$LOG/search.json" >/dev/null 2>"$LOG/search.err"; then
  top=$("$PY" -c 'import json,sys
r=json.load(open(sys.argv[1])); p=json.load(open("tests/fixtures/search/golden.json"))["planted_channel"]
e=r["ranking"][0]; ok=(e["layer"],e["module"],e["channel"])==(p["layer"],p["module"],p["channel"])
print(("planted channel ranked first" if ok else "PLANTED CHANNEL NOT FIRST") + ": L%d.%s:%d" % (e["layer"], e["module"], e["channel"]))' "$LOG/search.json" 2>&1)
  row "search on planted fixture (cuda)" "PASS" "$(( $(date +%s) - s0 )) s; $top"
else row "search on planted fixture (cuda)" "FAIL" "$(tail -1 "$LOG/search.err")"; fi

# 4. benchmark
bargs=(--device cuda); [ "$QUICK" = 1 ] && bargs+=(--quick)
if "$CLI" bench "${bargs[@]}" >"$LOG/bench.txt" 2>"$LOG/bench.err"; then
  row "benchmark on cuda" "PASS" "rows below"
else row "benchmark on cuda" "FAIL" "$(tail -1 "$LOG/bench.err" | cut -c1-160)"; fi

echo
echo "## gpu-check summary ($(( $(date +%s) - t0 )) s)"
printf '%s\n' "| step | result | detail |" "|---|---|---|" "${ROWS[@]}"
[ -s "$LOG/bench.txt" ] && { echo; cat "$LOG/bench.txt"; }
! printf '%s\n' "${ROWS[@]}" | grep -q '| FAIL '
