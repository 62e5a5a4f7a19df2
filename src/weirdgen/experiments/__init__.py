"""Experiments as YAML and the orchestrator that runs one end to end.

``load_experiment("birds")`` (or a path to your own YAML) gives a validated ``ExperimentSpec``;
``weirdgen run`` builds its datasets, finetunes every group x seed, evaluates, judges and reports.
"""

from weirdgen.experiments.spec import (
    ExperimentSpec,
    check_experiment,
    experiment_names,
    load_experiment,
)

__all__ = ["ExperimentSpec", "check_experiment", "experiment_names", "load_experiment"]
