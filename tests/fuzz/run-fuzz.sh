#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan) in build/fuzz, runs each over its committed
# seed corpus plus SECONDS of fresh fuzzing, then measures line and branch coverage of the parser it
# aims at with a clang source-coverage build (build/fuzz-cov) over the final corpus.
#   tests/fuzz/run-fuzz.sh [seconds per target, default 60] [target ...]
#   ACHILLES_FUZZ_RUNS=N   also stop a target after N executions (a campaign of "10M execs or
#                          30 minutes": ACHILLES_FUZZ_RUNS=10000000 tests/fuzz/run-fuzz.sh 1800)
# Exit status: 0 when no target found anything; 1 otherwise (the crashing inputs are in
# build/fuzz/findings/<target>/). Prints one line per target: execs, exec/s, corpus, coverage.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECS="${1:-60}"; [ $# -gt 0 ] && shift || true
JOBS="${JOBS:-2}"
CLANG_VER="${CLANG_VER:-14}"
CXX="clang++-$CLANG_VER"
if ! command -v "$CXX" >/dev/null 2>&1 || ! dpkg -s "libclang-rt-$CLANG_VER-dev" >/dev/null 2>&1; then
  echo "run-fuzz: installing clang-$CLANG_VER and libclang-rt-$CLANG_VER-dev"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y --no-install-recommends "clang-$CLANG_VER" "libclang-rt-$CLANG_VER-dev" "llvm-$CLANG_VER"
fi
PROFDATA="llvm-profdata-$CLANG_VER"; COV="llvm-cov-$CLANG_VER"
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz_json fuzz_safetensors fuzz_config fuzz_tokenizer_json fuzz_tokenizer_encode fuzz_mask_spec fuzz_result fuzz_npy fuzz_chat_template)
corpus_of() { case "$1" in fuzz_tokenizer_json) echo tokenizer_json ;; fuzz_tokenizer_encode) echo tokenizer_encode ;; fuzz_mask_spec) echo mask_spec ;; *) echo "${1#fuzz_}" ;; esac; }
# The parser each target aims at: its line and branch coverage are reported (llvm-cov).
files_of() { case "$1" in
  fuzz_json) echo core/src/util/json_util.cpp ;; fuzz_safetensors) echo core/src/io/safetensors.cpp ;;
  fuzz_config) echo core/src/io/config.cpp ;; fuzz_tokenizer_json) echo "core/src/tokenizer/bpe.cpp core/src/tokenizer/tokenizer.cpp" ;;
  fuzz_tokenizer_encode) echo "core/src/tokenizer/bpe.cpp core/src/tokenizer/nfc.cpp" ;; fuzz_mask_spec) echo core/src/util/neuron.cpp ;;
  fuzz_result) echo core/src/session/result_json.cpp ;; fuzz_npy) echo core/src/io/npy.cpp ;;
  fuzz_chat_template) echo core/src/tokenizer/chat_template.cpp ;; esac; }
dict_of() { case "$1" in fuzz_mask_spec) echo "$ROOT/tests/fuzz/mask.dict" ;; fuzz_chat_template) echo "$ROOT/tests/fuzz/chat.dict" ;; fuzz_tokenizer_encode|fuzz_npy) echo "" ;; *) echo "$ROOT/tests/fuzz/json.dict" ;; esac; }

configure() {  # dir, flags
  cmake -S "$ROOT" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$CXX" \
        -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)" \
        -DACHILLES_BUILD_FUZZ=ON -DACHILLES_BUILD_GUI=OFF -DACHILLES_BUILD_TESTS=OFF -DACHILLES_USE_PCH=OFF \
        -DCMAKE_CXX_FLAGS="$2" >/dev/null
  cmake --build "$1" -j "$JOBS" --target "${TARGETS[@]}" >/dev/null
}
FUZZ="$ROOT/build/fuzz"; COVB="$ROOT/build/fuzz-cov"
echo "run-fuzz: building $FUZZ (ASan + UBSan, clang-$CLANG_VER)"
configure "$FUZZ" "-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
echo "run-fuzz: building $COVB (source coverage)"
configure "$COVB" "-g -O1 -fsanitize=fuzzer-no-link -fprofile-instr-generate -fcoverage-mapping"

status=0
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
printf '%-22s %12s %9s %7s %8s %8s %s\n' target execs exec/s corpus lines branches findings
for t in "${TARGETS[@]}"; do
  c="$(corpus_of "$t")"; work="$FUZZ/corpus/$c"; find="$FUZZ/findings/$t"
  mkdir -p "$work" "$find"
  d="$(dict_of "$t")"; dictarg=(); [ -n "$d" ] && dictarg=(-dict="$d")
  [ -n "${ACHILLES_FUZZ_RUNS:-}" ] && dictarg+=(-runs="$ACHILLES_FUZZ_RUNS")
  log="$FUZZ/$t.log"
  start="$find/.run-start"; touch "$start"  # findings of earlier runs are not counted again
  set +e
  ( cd "$find" && "$FUZZ/tests/fuzz/$t" "${dictarg[@]}" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=4096 \
        -max_len=65536 -print_final_stats=1 "$work" "$ROOT/tests/fuzz/corpus/$c" ) >"$log" 2>&1
  rc=$?
  set -e
  execs="$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)"
  rate="$(grep -ao 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)"
  nfind="$(find "$find" -maxdepth 1 -newer "$start" \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)"
  [ "$rc" -ne 0 ] && [ "$nfind" -eq 0 ] && nfind="rc=$rc"
  [ "$rc" -ne 0 ] && status=1
  # Coverage of core/src over the final corpus (committed seeds + what this run found).
  prof="$COVB/$t.profraw"; rm -f "$prof"
  LLVM_PROFILE_FILE="$prof" "$COVB/tests/fuzz/$t" -runs=0 "$work" "$ROOT/tests/fuzz/corpus/$c" >/dev/null 2>&1 || true
  lines="?"; branches="?"
  if [ -f "$prof" ]; then
    "$PROFDATA" merge -sparse "$prof" -o "$COVB/$t.profdata"
    srcs=(); for f in $(files_of "$t"); do srcs+=("$ROOT/$f"); done
    tot="$("$COV" report "$COVB/tests/fuzz/$t" -instr-profile="$COVB/$t.profdata" "${srcs[@]}" 2>/dev/null | grep '^TOTAL' || true)"
    # TOTAL regions missed cover% functions missed exec% lines missed cover% branches missed cover%
    lines="$(echo "$tot" | awk '{print $10}')"; branches="$(echo "$tot" | awk '{print $13}')"
    "$COV" report "$COVB/tests/fuzz/$t" -instr-profile="$COVB/$t.profdata" "${srcs[@]}" > "$FUZZ/$t.coverage.txt" 2>/dev/null || true
  fi
  corpus_n="$(ls "$work" | wc -l)"
  printf '%-22s %12s %9s %7s %8s %8s %s\n' "$t" "$execs" "$rate" "$corpus_n" "$lines" "$branches" "$nfind"
done
exit $status
