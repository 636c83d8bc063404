# EmbeddingSimilarity task image for the Digital Slide Archive (Slicer CLI Web).
#   docker build -t embedding-similarity .
#   docker run --rm embedding-similarity --list_cli
# Reproducible rebuilds: Python packages come from requirements.lock (every package pinned) and
# Debian packages from a dated snapshot of the archive, at pinned versions.
#
# Locked-down builders (no registry, no snapshot.debian.org, a local wheel mirror, a TLS proxy)
# set build arguments instead of editing this file; tools/build_image.sh does so with podman:
#   BASE_IMAGE        an image with Python 3.11 (a debootstrap'd bookworm works)
#   APT_SOURCE        snapshot (default) | none: the base already holds libtiff6, gcc, libc6-dev,
#                     python3-dev and fonts-dejavu-core, so apt is not called (the compilers and
#                     headers are purged after pip, as on the default path)
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_CERT
#                     pip's own settings, used during the build only (never kept in the image)
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# girder_worker starts containers with the GPU only when the image asks for it.
LABEL com.nvidia.volumes.needed=nvidia_driver
LABEL org.opencontainers.image.title="EmbeddingSimilarity" \
      org.opencontainers.image.description="Find similar tissue in whole-slide images with pathology foundation models" \
      org.opencontainers.image.licenses="Apache-2.0"

ARG DEBIAN_SNAPSHOT=20261115T000000Z
ARG APT_SOURCE=snapshot
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_CERT
# The task's own environment: the same on any base image, and never an externally-managed
# system Python (bookworm's) that pip refuses to change.
ENV PYTHONUNBUFFERED=TRUE \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/opt/hf \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /opt/EmbeddingSimilarity
COPY requirements.txt requirements.lock ./
# The dependencies first, in a layer of their own: a change of the task's code rebuilds in
# seconds, not the minutes the gigabytes of torch take.
# torch from PyPI for Linux x86_64 is the CUDA build; it also runs on machines without a GPU.
# pylibtiff (large_image's tiff source) compiles against libtiff; the compiler is removed after.
RUN if [ "$APT_SOURCE" = snapshot ]; then \
        printf 'deb [check-valid-until=no] https://snapshot.debian.org/archive/debian/%s bookworm main\ndeb [check-valid-until=no] https://snapshot.debian.org/archive/debian-security/%s bookworm-security main\n' \
            "$DEBIAN_SNAPSHOT" "$DEBIAN_SNAPSHOT" > /etc/apt/sources.list \
        && rm -f /etc/apt/sources.list.d/debian.sources \
        && apt-get update \
        && apt-get install -y --no-install-recommends \
            libtiff6=4.5.0-6+deb12u4 gcc=4:12.2.0-3 libc6-dev=2.36-9+deb12u14 \
            fonts-dejavu-core=2.37-6 ; \
    fi \
    && python3 -m venv /opt/venv \
    && python -m pip install -c requirements.lock -r requirements.txt \
    && apt-get purge -y gcc libc6-dev \
    && if [ "$APT_SOURCE" = none ]; then apt-get purge -y python3.11-dev libpython3.11-dev; fi \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* /root/.cache
COPY setup.py README.rst ./
COPY EmbeddingSimilarity ./EmbeddingSimilarity
RUN python -m pip install --no-deps -c requirements.lock .
COPY cli_list.json slicer_cli_list.json docker-entrypoint.sh ./
COPY EmbeddingClusters ./EmbeddingClusters
COPY CollectionSimilarity ./CollectionSimilarity

# Build-time smoke tests: what Slicer CLI Web asks of the image.
RUN ./docker-entrypoint.sh --list_cli \
    && ./docker-entrypoint.sh EmbeddingSimilarity --xml > /dev/null \
    && ./docker-entrypoint.sh EmbeddingSimilarity --help > /dev/null \
    && ./docker-entrypoint.sh EmbeddingSimilarity --list-models > /dev/null \
    && ./docker-entrypoint.sh EmbeddingClusters --xml > /dev/null \
    && ./docker-entrypoint.sh EmbeddingClusters --help > /dev/null \
    && ./docker-entrypoint.sh CollectionSimilarity --xml > /dev/null \
    && ./docker-entrypoint.sh CollectionSimilarity --help > /dev/null

ENTRYPOINT ["/opt/EmbeddingSimilarity/docker-entrypoint.sh"]
