#!/bin/sh
# Install Waystation into a new virtual environment: the steps the container image runs,
# and what each systemd release runs too (deploy/waystation-release). Usage:
#   deploy/install-venv.sh VENV [SOURCE]      (SOURCE: the repository, default: this script's parent)
# VENV must not exist yet: a venv's scripts name its absolute path, so it is built where it will
# stay, and never reused (a reused venv keeps modules the new version no longer has).
# Dependencies come only from deploy/requirements.txt, every file pinned by hash and only as
# wheels; the project is built into a wheel from a clean copy of its sources and installed
# without dependencies; 'pip check' then proves that nothing is missing and 'waystation --help'
# that it imports.
set -eu
venv=$1
src=${2:-"$(dirname "$0")/.."}
python=${PYTHON:-python3}
if [ -e "$venv" ]; then
    echo "install-venv.sh: $venv already exists: give a new directory (a venv is never reused or moved)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
# A clean copy of exactly what the wheel is built from (the Containerfile copies the same). Built in
# place, setuptools would reuse SOURCE/build/, and a module deleted upstream would still be shipped;
# copying only these also keeps anything else in the checkout (a demo home, keys) out of /tmp.
mkdir "$work/src" "$work/wheels"
(cd "$src" && tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md bot crypto intake model ops sandbox staff staffapi storage waystation) \
    | tar -C "$work/src" -xf -
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --require-hashes --only-binary=:all: -r "$src/deploy/requirements.txt"
"$venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$work/wheels" "$work/src"
"$venv/bin/python" -m pip install --quiet --no-deps --no-index "$work/wheels"/waystation-*.whl
"$venv/bin/python" -m pip check
"$venv/bin/waystation" --help >/dev/null
