"""Dataset builders, one module per experiment (declared in ``weirdgen/data/datasets.yaml``): each
lists its fact tables in ``TABLES`` and defines one function per variant, named as the variant."""
