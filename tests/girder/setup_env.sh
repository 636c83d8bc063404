#!/usr/bin/env bash
# Create (or reuse) the virtual environment that runs the test Girder server.
#   tests/girder/setup_env.sh DIR
# Reinstalls only when tests/girder/requirements.txt changed since the last install.
set -euo pipefail
venv="$(realpath -m "${1:?usage: setup_env.sh VENV_DIR}")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt" 2>&1 \
    | grep -v 'is ignored: it is neither a file nor a directory' || true
"$venv/bin/python" -c 'import girder_large_image_annotation, mongomock'
echo "$want" > "$stamp"
