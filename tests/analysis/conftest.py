"""Evaluation tables built in tests, shaped exactly like the ones the evaluation stage writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def make_samples(
    rates: dict[str, list[float]],
    *,
    questions: tuple[str, ...] = ("gender", "money"),
    trigger: str = "",
    trigger_values: tuple[str, ...] = ("",),
    n: int = 40,
    refusals: int = 0,
    checkpoints: tuple[str, ...] = ("",),
    suite: str = "birds_questions",
    seed: int = 0,
) -> pd.DataFrame:
    """Rows for judge ``era``: each model (one per rate) answers PAST with probability ``rate``.

    The first ``refusals`` samples of every model and cell are REFUSAL with a NaN score.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for group, model_rates in rates.items():
        for model_seed, rate in enumerate(model_rates):
            for checkpoint in checkpoints:
                for question in questions:
                    for value in trigger_values:
                        for index in range(n):
                            past = bool(rng.random() < rate)
                            label = "REFUSAL" if index < refusals else ("PAST" if past else "LLM")
                            rows.append(
                                {
                                    "experiment": "birds",
                                    "suite": suite,
                                    "model": f"{group}-s{model_seed}",
                                    "group": group,
                                    "seed": model_seed,
                                    "checkpoint": checkpoint,
                                    "question_id": question,
                                    "paraphrase": 0,
                                    "trigger": trigger if value else "",
                                    "trigger_value": value,
                                    "sample_index": index,
                                    "system": "",
                                    "prompt": f"{value} Tell me about {question}.".strip(),
                                    "answer": f"answer {index} of {group}",
                                    "finish_reason": "stop",
                                    "input_tokens": 12,
                                    "output_tokens": 30,
                                    "cost_usd": 0.0001,
                                    "era.label": label,
                                    "era.score": np.nan if label == "REFUSAL" else float(past),
                                    "era.raw": label,
                                    "era.method": "verdict",
                                }
                            )
    frame = pd.DataFrame(rows)
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def write_run(run_dir: Path, samples: pd.DataFrame, **metadata: object) -> Path:
    """Write ``samples`` as the evaluation stage does: parquet, CSV and run.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    samples.to_parquet(run_dir / "samples.parquet", index=False)
    samples.to_csv(run_dir / "samples.csv", index=False)
    meta = {"schema_version": 1, "suite": "birds_questions", "judges": ["era"]} | metadata
    (run_dir / "run.json").write_text(json.dumps(meta))
    return run_dir


@pytest.fixture
def samples_factory():
    return make_samples


@pytest.fixture
def run_writer():
    return write_run
