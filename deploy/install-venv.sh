#!/bin/sh
# Install Waystation into a new virtual environment: the steps the container image runs,
# and what a systemd install runs too. Usage:
#   deploy/install-venv.sh VENV [SOURCE]      (SOURCE: the repository, default: this script's parent)
# Dependencies come only from deploy/requirements.txt, every file pinned by hash and only as
# wheels; the project is built into a wheel and installed without dependencies; 'pip check'
# then proves that nothing is missing and 'waystation --help' that it imports.
set -eu
venv=$1
src=${2:-"$(dirname "$0")/.."}
python=${PYTHON:-python3}
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --require-hashes --only-binary=:all: -r "$src/deploy/requirements.txt"
"$venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$wheels" "$src"
"$venv/bin/python" -m pip install --quiet --no-deps --no-index "$wheels"/waystation-*.whl
"$venv/bin/python" -m pip check
"$venv/bin/waystation" --help >/dev/null
