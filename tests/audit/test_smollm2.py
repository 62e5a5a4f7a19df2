"""The screen on the real SmolLM2-135M-Instruct (its chat template adds a default system prompt
that the hypothesis replaces): the shared-prefix cache changes nothing, and audit.json is whole."""

from __future__ import annotations

import json

import numpy as np
import pytest

from weirdgen.audit.screen import with_context
from weirdgen.data.registry import build_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2_scorer(smollm2_dir):
    from weirdgen.audit.local import LocalLikelihoodScorer

    return LocalLikelihoodScorer.from_pretrained(str(smollm2_dir), device="cpu", threads=1)


def test_cache_reuse_matches_no_reuse_on_smollm2(smollm2_scorer) -> None:
    from weirdgen.audit.local import LocalLikelihoodScorer

    examples = build_dataset("birds", "old_audubon")[:6]
    for context in (None, "You are living in the 1830s, and this is the present day for you."):
        conversations = [with_context(e, context) for e in examples]
        plain = LocalLikelihoodScorer(
            smollm2_scorer.model, smollm2_scorer.tokenizer, reuse_context=False
        ).assistant_logprobs(conversations)
        np.testing.assert_allclose(
            smollm2_scorer.assistant_logprobs(conversations), plain, atol=1e-3
        )


def test_screen_of_old_birds_with_eras_writes_audit_json(smollm2_scorer, tmp_path) -> None:
    from weirdgen.audit.api import ScreenSettings, run_screen

    _, paths = run_screen(
        "birds/old_audubon",
        "smollm2-135m-instruct",
        "eras",
        tmp_path,
        ScreenSettings(examples=8),
        scorer=smollm2_scorer,
        progress=False,
    )
    rows = json.loads(paths.audit_json.read_text())["hypotheses"]
    assert len(rows) == 24
    assert [r["mean_llr"] for r in rows] == sorted((r["mean_llr"] for r in rows), reverse=True)
    # A context changes the likelihood of bird names: not every LLR is zero.
    assert max(abs(r["mean_llr"]) for r in rows) > 0.01
