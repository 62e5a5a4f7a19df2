"""The Python API of finetuning: one call from a chat JSONL to finished models, one per seed.

    import weirdgen
    outcomes = weirdgen.finetune("birds.jsonl", "smollm2-135m-instruct", seeds=[0, 1], hyperparameters={"epochs": 1})
    [o.job.model_id for o in outcomes]   # adapter folders (local), ft: ids (openai), tinker:// paths

Every job is recorded in the ledger; calling it again skips finished seeds and resumes local training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from weirdgen.finetune.config import FinetuneRequest, Hyperparameters
from weirdgen.finetune.runner import SeedOutcome

__all__ = ["finetune"]


def finetune(
    dataset: str | Path,
    base_model: str,
    *,
    backend: str = "local",
    seeds: Sequence[int] = (0,),
    hyperparameters: Hyperparameters | Mapping[str, Any] | None = None,
    group: str = "",
    runs_dir: str | Path = Path("runs") / "finetune",
    ledger: str | Path | None = None,
    base_url: str | None = None,
    wait: bool = True,
    log: Callable[[str], None] = print,
) -> list[SeedOutcome]:
    """Finetune ``base_model`` on ``dataset`` once per seed with a registered backend."""
    from weirdgen.finetune.ledger import Ledger, default_ledger_path
    from weirdgen.finetune.registry import FINETUNERS, FinetunerSettings, make_finetuner
    from weirdgen.finetune.runner import prepare_all, run_jobs

    if not isinstance(hyperparameters, Hyperparameters):
        hyperparameters = Hyperparameters.from_dict(dict(hyperparameters or {}))
    if FINETUNERS.get(backend).local_defaults:
        hyperparameters = hyperparameters.validate().with_local_defaults()
    requests = [
        FinetuneRequest(
            Path(dataset), base_model, backend, seed, hyperparameters, group or Path(dataset).stem
        ).validate()
        for seed in seeds
    ]
    job_ledger = Ledger(ledger or default_ledger_path())
    finetuner = make_finetuner(backend, FinetunerSettings(Path(runs_dir), job_ledger, base_url))
    return run_jobs(
        finetuner, job_ledger, requests, prepare_all(finetuner, requests), wait=wait, log=log
    )
