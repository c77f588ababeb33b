#!/bin/sh
# with_python.sh PYTHON SCRIPT ARGS...: runs SCRIPT with PYTHON, or exits 77 (CTest: skipped) when
# PYTHON is absent. Used for the checks that need torch + transformers (./run.sh --torch pip makes
# that python at .venv).
py="$1"; shift
[ -x "$py" ] || { echo "skipped: $py is absent (./run.sh --torch pip creates it)"; exit 77; }
exec "$py" "$@"
