#!/usr/bin/env bash
# Build the task image with podman where there is no docker daemon and no container registry
# (this project's CI machines), from the repository's own Dockerfile:
#   tools/build_image.sh [TAG]                  (default embedding-similarity:dev)
#
# 1. installs podman, buildah, runc and debootstrap from Debian if missing;
# 2. makes a Debian bookworm base with debootstrap (Python 3.11 and what the Dockerfile's apt
#    step would add), imported as localhost/bookworm-py; kept in $ES_IMAGE_CACHE and reused;
# 3. builds the Dockerfile on that base with APT_SOURCE=none and pip pointed at this machine's
#    package sources (pip's own configuration: its index, extra indexes, find-links and CA
#    bundle, bind-mounted read-only), so the gigabytes of torch come from local disk.
# The Dockerfile's build-time smoke tests run in the build. Prints the image's size and the
# build's seconds. Settings that work here: runc (crun lacks CAP_SYS_RESOURCE on cgroup v1
# hybrid hosts), no default ulimits, chroot isolation, host network.
set -euo pipefail
tag="${1:-embedding-similarity:dev}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${ES_IMAGE_CACHE:-/var/cache/es-image}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$cache/conf"

if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends podman buildah runc debootstrap \
        fuse-overlayfs uidmap >/dev/null
fi
printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' \
    > "$cache/conf/containers.conf"
export CONTAINERS_CONF="$cache/conf/containers.conf"

base=localhost/bookworm-py:2
if ! podman image exists "$base"; then
    if [ ! -x "$cache/rootfs/usr/bin/python3" ]; then
        rm -rf "$cache/rootfs"
        debootstrap --variant=minbase \
            --include=python3,python3-venv,python3-dev,ca-certificates,libtiff6,fonts-dejavu-core,gcc,libc6-dev \
            bookworm "$cache/rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
            || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
    fi
    tar -C "$cache/rootfs" -c . | podman import -q - "$base" >/dev/null
fi

# pip's configuration on this machine, handed to the build (read-only) and not kept in the image
pip_get() { python3 -m pip config get "$1" 2>/dev/null || true; }
args=(--build-arg BASE_IMAGE="$base" --build-arg APT_SOURCE=none)
mounts=()
index="$(pip_get global.index-url)"
extra="$(pip_get global.extra-index-url | tr '\n' ' ')"
links="${PIP_FIND_LINKS:-$(pip_get global.find-links | tr '\n' ' ')}"
cert="${PIP_CERT:-$(pip_get global.cert)}"
cert="${cert:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
[ -n "$index" ] && args+=(--build-arg PIP_INDEX_URL="$index")
[ -n "${extra// /}" ] && args+=(--build-arg PIP_EXTRA_INDEX_URL="${extra% }")
[ -n "${links// /}" ] && args+=(--build-arg PIP_FIND_LINKS="${links% }")
for location in $extra $links; do
    folder="${location#file://}"
    [ -d "$folder" ] || continue
    case "$folder" in */simple) folder="${folder%/simple}";; esac
    mounts+=(-v "$folder:$folder:ro")
done
if [ -n "$cert" ] && [ -f "$cert" ]; then
    mounts+=(-v "$cert:/run/host-ca.crt:ro")
    args+=(--build-arg PIP_CERT=/run/host-ca.crt)
fi

start=$(date +%s)
podman build --format docker --isolation chroot --network host --layers "${mounts[@]}" "${args[@]}" \
    -t "$tag" "$repo"
seconds=$(( $(date +%s) - start ))
size=$(podman image inspect "$tag" --format '{{.Size}}')
echo "built $tag in ${seconds} s, $(( size / 1000000 )) MB"
