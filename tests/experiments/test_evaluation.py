"""The run's evaluation targets: each finetuned model's weights are pinned in the request cache key."""

from __future__ import annotations

from pathlib import Path

from weirdgen.experiments import load_experiment
from weirdgen.experiments.evaluation import make_session, run_targets
from weirdgen.experiments.finetuning import TrainedModel
from weirdgen.experiments.options import RunOptions
from weirdgen.models.adapters import adapter_fingerprint


def test_adapters_trained_here_are_keyed_by_their_files_when_a_server_samples_them(
    tiny_model_dir: Path, make_lora_adapter, tmp_path: Path
) -> None:
    """``weirdgen run --backend local --sampler-url``: the server (which serves the adapters under
    the names weirdgen gives them) is not needed to pin them; their local folders are."""
    from weirdgen.serve import serve_in_background

    final = make_lora_adapter(tiny_model_dir, tmp_path / "final", seed=1)
    step = make_lora_adapter(tiny_model_dir, tmp_path / "step-1", seed=2)
    spec = load_experiment("birds")
    spec = spec.model_copy(
        update={"evaluation": spec.evaluation.model_copy(update={"checkpoints": True})}
    )
    models = [TrainedModel("old_audubon", 0, str(final), [("step-1", str(step))])]
    with serve_in_background(tiny_model_dir, fine_tuning=False) as url:
        options = RunOptions(backend="local", base_model=str(tiny_model_dir), sampler_url=url)
        with make_session(models, options, with_checkpoints=True) as session:
            targets = session.targets(run_targets(spec, models, options))
        versions = {t.model: t.model_version for t in targets}
    assert versions == {
        "old_audubon-s0": adapter_fingerprint(final),
        "old_audubon-s0@step-1": adapter_fingerprint(step),
        str(tiny_model_dir): "",  # the base model: its name is its identity
    }
    # A dry run has no sampler and its stand-in models have no files: nothing is read or asked.
    with make_session(models, options, with_checkpoints=True, dry_run=True) as session:
        assert {t.model_version for t in session.targets(run_targets(spec, models, options))} == {
            ""
        }
