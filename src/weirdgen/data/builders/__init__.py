"""Dataset builders, one module per experiment; each exposes ``DATASETS: ExperimentDatasets``."""
