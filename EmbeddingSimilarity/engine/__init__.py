"""The embedding engine: uint8 tiles in, pooled embeddings out, on the device, in process or
on a Dask cluster; :func:`.build.load_engine` is the one door that builds it.
May import: slide, models and the foundation modules."""
