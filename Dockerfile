# EmbeddingSimilarity task image for the Digital Slide Archive (Slicer CLI Web).
#   docker build -t embedding-similarity .
#   docker run --rm embedding-similarity --list_cli
FROM python:3.11-slim

# girder_worker starts containers with the GPU only when the image asks for it.
LABEL com.nvidia.volumes.needed=nvidia_driver
LABEL org.opencontainers.image.title="EmbeddingSimilarity" \
      org.opencontainers.image.description="Find similar tissue in whole-slide images with pathology foundation models" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONUNBUFFERED=TRUE \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/opt/hf

WORKDIR /opt/EmbeddingSimilarity
COPY requirements.txt setup.py README.rst ./
COPY EmbeddingSimilarity ./EmbeddingSimilarity
# torch from PyPI for Linux x86_64 is the CUDA build; it also runs on machines without a GPU.
# pylibtiff (large_image's tiff source) compiles against libtiff; the compiler is removed after.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libtiff6 gcc libc6-dev \
    && python -m pip install -r requirements.txt . \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* /root/.cache
COPY cli_list.json slicer_cli_list.json docker-entrypoint.sh ./

# Build-time smoke tests: what Slicer CLI Web asks of the image.
RUN ./docker-entrypoint.sh --list_cli \
    && ./docker-entrypoint.sh EmbeddingSimilarity --xml > /dev/null \
    && ./docker-entrypoint.sh EmbeddingSimilarity --help > /dev/null

ENTRYPOINT ["/opt/EmbeddingSimilarity/docker-entrypoint.sh"]
