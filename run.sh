#!/usr/bin/env bash
# Achilles Workbench: the two commands.
#   ./run.sh            install dependencies, build (Release), start the workbench on the embedded model
#                       (no display, or --headless: run the CLI search and write ./achilles-out/)
#   ./run.sh test       install dependencies, build, run every test with ctest
#   ./run.sh build      install dependencies and build only
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
cmd="${1:-run}"; [ $# -gt 0 ] && shift || true
JOBS="${JOBS:-$(nproc)}"
BUILD="${ACHILLES_BUILD_DIR:-$ROOT/build/release}"

deps() { "$ROOT/packaging/install-deps.sh"; }

configure_build() {
  local launcher=()
  command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@"
  cmake --build "$BUILD" -j "$JOBS"
}

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
  *) echo "usage: ./run.sh [run|--headless|test|build]" >&2; exit 2 ;;
esac
