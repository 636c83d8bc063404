#!/usr/bin/env bash
# Create (or reuse) the environment for the HistomicsUI browser test:
#   tests/ui/setup_env.sh VENV_DIR
# 1. a Girder 3 venv with HistomicsUI (tests/ui/requirements.txt);
# 2. Debian's chromium and the headers npm's "canvas" compiles against (it cannot fetch its
#    prebuilt binary here);
# 3. the Girder web client, built with three fixes Girder 3.2 needs on Node 20 / npm 11:
#    - npm copies @girder/* into node_modules and Girder's babel rule skips node_modules, so
#      large_image's ES modules reach webpack untranspiled: let babel see @girder/*;
#    - webpack 3 hashes with md4, which Node >= 17 refuses: --openssl-legacy-provider;
#    - histomicsui's backbone.localstorage brings a second Backbone whose router never starts:
#      remove it and rebuild;
# 4. girder_worker 0.10 (tests/ui/requirements-worker.txt), after the build: Slicer CLI Web 1.5
#    needs it to create a job;
# 5. playwright-core (driving that chromium) under tests/ui/node_modules.
# Reruns skip every step already done.
set -euo pipefail
venv="$(realpath -m "${1:?usage: setup_env.sh VENV_DIR}")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp="$venv/.ui-ready"
want="$(cat "$here/requirements.txt" "$here/requirements-worker.txt" "$here/../girder/requirements.txt" \
    "$0" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x /usr/bin/chromium ]; then
    exit 0
fi
quiet() { grep -v 'is ignored: it is neither a file nor a directory' || true; }

if [ ! -x /usr/bin/chromium ] || ! pkg-config --exists pixman-1 cairo pangocairo 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends chromium libcairo2-dev libpango1.0-dev \
        libjpeg-dev libgif-dev librsvg2-dev libpixman-1-dev pkg-config >/dev/null
fi

python3 -m venv "$venv"
(cd "$here" && "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -r requirements.txt 2>&1 | quiet)

site="$("$venv/bin/python" -c 'import girder, os; print(os.path.dirname(os.path.dirname(girder.__file__)))')"
web="$site/girder/web_client"
sed -i 's#exclude: /node_modules/$#exclude: /node_modules\\/(?!@girder\\/)/#; s#exclude: /node_modules/,#exclude: /node_modules\\/(?!@girder\\/)/,#' \
    "$web/grunt_tasks/webpack.config.js"
export NODE_OPTIONS=--openssl-legacy-provider
for attempt in 1 2; do   # npm's registry can fail a download now and then
    if [ ! -d "$web/node_modules/@girder/histomicsui" ]; then
        rm -rf "$web/node_modules"
        "$venv/bin/girder" build >/dev/null 2>&1 || true   # installs node_modules
    fi
    rm -rf "$web/node_modules/@girder/histomicsui/node_modules/backbone"
    if "$venv/bin/girder" build --no-reinstall >/dev/null 2>&1; then
        break
    fi
    [ "$attempt" = 2 ] && { echo "girder build failed twice" >&2; exit 1; }
    rm -rf "$web/node_modules"
done
test -d "$venv/share/girder/static/built/plugins/histomicsui"
(cd "$here" && "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -r requirements-worker.txt 2>&1 | quiet)

(cd "$here" && { npm install --silent --no-audit --no-fund --ignore-scripts >/dev/null \
    || npm install --silent --no-audit --no-fund --ignore-scripts >/dev/null; })
echo "$want" > "$stamp"
