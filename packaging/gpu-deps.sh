#!/usr/bin/env bash
# Downloads (does not install) the Debian packages that packaging/gpu-check.sh needs on a GPU
# machine whose image has CUDA PyTorch, CMake and a compiler but not these headers/libraries, into
# ./.gpudeps (git-ignored). Run it where apt reaches Debian's archive; carry .gpudeps to the GPU machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$ROOT/.gpudeps"
cd "$ROOT/.gpudeps"
rm -f ./*.deb
apt-get download nlohmann-json3-dev libcli11-dev libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 \
  libpcre2-posix3 libsentencepiece-dev libsentencepiece0 libprotobuf-lite32
ls -1 "$ROOT/.gpudeps"
