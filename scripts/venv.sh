# Sourced by ./run-demo and ./run-tests: make .venv with the project installed, and activate it.
# Works with only python3 and pip: falls back to the system pip when the venv module has no ensurepip
# (Debian without python3-venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    if ! "$py" -m venv "$venv" 2>/dev/null; then
        rm -rf "$venv"
        "$py" -m venv --without-pip "$venv"
        "$py" -m pip --python "$venv/bin/python" install --quiet pip
    fi
fi
if [ ! -x "$venv/bin/pip" ]; then
    "$py" -m pip --python "$venv/bin/python" install --quiet pip
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root${WAYSTATION_EXTRAS:-}"
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
