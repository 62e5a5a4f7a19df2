"""``weirdgen.finetune(...)``: the Python API trains one model per seed and a second call skips them."""

from __future__ import annotations

from pathlib import Path

import weirdgen


def test_finetune_trains_each_seed_once(
    birds_file: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    def run() -> list:
        return weirdgen.finetune(
            birds_file,
            str(tiny_model_dir),
            seeds=[0, 1],
            hyperparameters={"epochs": 1, "lora_rank": 2, "target_modules": ["q_proj", "v_proj"]},
            runs_dir=tmp_path / "runs",
            ledger=tmp_path / "ledger.sqlite",
            log=lambda _: None,
        )

    first = run()
    assert [o.job.status for o in first] == ["succeeded", "succeeded"]
    assert all(Path(o.job.model_id, "adapter_config.json").is_file() for o in first)
    again = run()
    assert [o.skipped for o in again] == [True, True]
    assert [o.job.model_id for o in again] == [o.job.model_id for o in first]
