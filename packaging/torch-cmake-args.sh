#!/usr/bin/env bash
# torch-cmake-args.sh PYTHON: prints, one per line, the CMake arguments that build this project
# against the libtorch inside PYTHON's torch (a pip wheel). For a CUDA wheel it adds what
# TorchConfig.cmake needs on a machine whose CUDA toolkit is partial or absent: the toolkit root
# (CUDA_HOME, else /usr/local/cuda, else nvcc's folder) and the wheel's own libnvrtc (the nvidia-*
# wheels ship only versioned .so files, which find_library does not find).
# Used by ./run.sh --torch pip and packaging/gpu-check.sh.
set -euo pipefail
py="${1:?usage: torch-cmake-args.sh PYTHON}"
"$py" - <<'PY'
import glob, os, shutil, sys
import torch
out = ["-DCMAKE_PREFIX_PATH=" + torch.utils.cmake_prefix_path]
if torch.version.cuda:
    home = os.environ.get("CUDA_HOME") or ("/usr/local/cuda" if os.path.isdir("/usr/local/cuda") else None)
    nvcc = os.path.join(home, "bin", "nvcc") if home else shutil.which("nvcc")
    if not home and nvcc:
        home = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
    if not nvcc or not os.path.exists(nvcc):
        sys.exit("torch-cmake-args: torch %s is a CUDA %s build, and building against it needs nvcc (CUDA_HOME)"
                 % (torch.__version__, torch.version.cuda))
    out += ["-DCUDA_TOOLKIT_ROOT_DIR=" + home, "-DCMAKE_CUDA_COMPILER=" + nvcc]
    site = os.path.dirname(os.path.dirname(torch.__file__))
    libs = sorted(p for p in glob.glob(os.path.join(site, "nvidia", "*", "lib", "libnvrtc.so*"))
                  if "builtins" not in p and ".alt." not in p)
    if libs:
        out.append("-DCUDA_nvrtc_LIBRARY=" + libs[0])
print("\n".join(out))
PY
