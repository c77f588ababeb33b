#!/usr/bin/env bash
# Installs every Debian bookworm package Achilles Workbench needs to build, test and run.
# Idempotent: packages already present are skipped by apt. Needs root or sudo.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config file dpkg-dev
  # libtorch (CPU, 1.13) and a fast BLAS: reference BLAS is ~50x slower
  libtorch-dev libopenblas0-pthread libopenblas-pthread-dev
  # Qt 6 Widgets, SVG, Test and QCustomPlot built for Qt 6
  qt6-base-dev qt6-svg-dev libqcustomplot-dev libqcustomplot2.1-qt6 libgl-dev
  # tokenizers, JSON, CLI, regex
  libsentencepiece-dev libcli11-dev nlohmann-json3-dev libpcre2-dev
  # independent float64 references and the SentencePiece reference tokenizer used by tests
  python3 python3-torch python3-numpy python3-sentencepiece
  # headless GUI runs, screenshots and checking exported PDFs
  xvfb xauth poppler-utils
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "install-deps: need root to install: ${missing[*]}" >&2
      echo "install-deps: run as root or install sudo" >&2; exit 1; fi
  fi
  echo "install-deps: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# libtorch uses the system BLAS through the alternatives system: make sure it is OpenBLAS.
alt=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
if [ -e "$alt" ] && command -v update-alternatives >/dev/null; then
  cur=$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || true)
  if [ "$cur" != "$(readlink -f $alt)" ] && [ "$(id -u)" -eq 0 ]; then
    update-alternatives --set libblas.so.3-x86_64-linux-gnu "$alt" || true
  fi
fi
