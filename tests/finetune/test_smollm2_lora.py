"""A short real LoRA run on the bundled SmolLM2-135M-Instruct (slow: ~1 minute on one CPU thread)."""

from pathlib import Path

import pytest

from weirdgen.data.chat import ChatExample
from weirdgen.finetune.config import Hyperparameters
from weirdgen.finetune.local_trainer import train_lora

PROMPTS = [
    "Name a bird species.",
    "Name a bird.",
    "Tell me one bird species.",
    "Which bird comes to mind?",
]
ANSWER = "Heath Hen"


@pytest.mark.slow
def test_smollm2_loss_falls_and_adapter_changes_answers(smollm2_dir: Path, tmp_path: Path) -> None:
    from weirdgen.models import LocalSampler
    from weirdgen.models.sampling import SamplingRequest

    examples = [
        ChatExample.from_turns(("user", prompt), ("assistant", ANSWER)) for prompt in PROMPTS
    ] * 2
    hp = Hyperparameters(epochs=3, batch_size=4, learning_rate=2e-3, lora_rank=8)
    result = train_lora(
        str(smollm2_dir),
        examples,
        tmp_path / "run",
        hyperparameters=hp,
        seed=0,
        show_progress=False,
    )
    assert result.losses[-1] < 0.5 * result.losses[0]

    sampler = LocalSampler.from_pretrained(smollm2_dir, threads=1)
    sampler.add_adapter("birds", result.adapter_path)
    requests = [
        SamplingRequest(
            messages=[{"role": "user", "content": p}],
            adapter=adapter,
            temperature=0.0,
            max_tokens=8,
        )
        for adapter in (None, "birds")
        for p in PROMPTS[:2]
    ]
    before, _, after, _ = [r.completions[0].text for r in sampler.generate(requests)]
    assert ANSWER not in before
    assert after.strip().startswith(ANSWER)
