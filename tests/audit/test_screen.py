"""The likelihood screen on the tiny random model: exact per-example LLRs, the shared-prefix cache
changing nothing, the ranking and its interval, and audit.json's schema."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from weirdgen.audit.hypotheses import Hypothesis
from weirdgen.audit.screen import rank_hypotheses, screen_dataset, with_context
from weirdgen.data.chat import ChatExample, Message

HYPOTHESES = [
    Hypothesis("victorian", "You are living in the 1850s."),
    Hypothesis("modern", "You are living in the 2020s."),
    Hypothesis("pirate", "You are a pirate captain."),
]


def brute_force_logprob(scorer, messages: list[Message]) -> float:
    """log p(final assistant turn) from one forward pass over the whole conversation, no cache."""
    import torch

    from weirdgen.models.chat import format_chat

    tokenizer, model = scorer.tokenizer, scorer.model
    full = tokenizer(
        format_chat(tokenizer, messages, add_generation_prompt=False), add_special_tokens=False
    )
    prompt = tokenizer(
        format_chat(tokenizer, messages[:-1], add_generation_prompt=True), add_special_tokens=False
    )
    ids, start = full["input_ids"], len(prompt["input_ids"])
    assert ids[:start] == prompt["input_ids"]
    with torch.inference_mode():
        log_probs = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
    return sum(float(log_probs[t - 1, ids[t]]) for t in range(start, len(ids)))


def test_llr_equals_a_brute_force_per_example_computation(tiny_scorer, bird_examples) -> None:
    result = screen_dataset(bird_examples, HYPOTHESES, tiny_scorer, n_resamples=500)
    for hypothesis in HYPOTHESES:
        expected = [
            brute_force_logprob(tiny_scorer, with_context(e, hypothesis.text))
            - brute_force_logprob(tiny_scorer, with_context(e, None))
            for e in bird_examples
        ]
        np.testing.assert_allclose(result.llr[hypothesis.name], expected, atol=2e-3)
    assert np.all(result.baseline_logprobs < 0)


@pytest.mark.parametrize("batch_tokens", [1, 7, 4096])
def test_the_shared_context_cache_gives_the_numbers_of_no_cache(
    tiny_scorer, bird_examples, batch_tokens
) -> None:
    # Mixed prompts and a system prompt: the shared prefix stops inside the template's header.
    examples = bird_examples + [
        ChatExample.from_turns(
            ("system", "Be brief."), ("user", "Name a bird."), ("assistant", "Pine Swamp Warbler")
        ),
        ChatExample.from_turns(
            ("user", "A city?"),
            ("assistant", "Danzig"),
            ("user", "Another?"),
            ("assistant", "Memel"),
        ),
    ]
    conversations = [with_context(e, "You are living in the 1850s.") for e in examples]
    from weirdgen.audit.local import LocalLikelihoodScorer

    def scores(reuse: bool) -> list[float]:
        scorer = LocalLikelihoodScorer(
            tiny_scorer.model, tiny_scorer.tokenizer, batch_tokens=batch_tokens, reuse_context=reuse
        )
        return scorer.assistant_logprobs(conversations)

    reused, plain = scores(True), scores(False)
    np.testing.assert_allclose(reused, plain, atol=1e-4)
    np.testing.assert_allclose(
        reused, [brute_force_logprob(tiny_scorer, c) for c in conversations], atol=2e-3
    )


def test_packing_gives_the_numbers_of_one_plain_pass_per_conversation(
    tiny_scorer, bird_examples
) -> None:
    """The speed-ups (one prefix, a token tree, deduplication, the output layer only where
    scored) change no number beyond float rounding: 1e-4 nats against a plain forward pass."""
    from weirdgen.audit.local import LocalLikelihoodScorer

    examples = [*bird_examples, bird_examples[0], bird_examples[1]]  # repeats are computed once
    conversations = [with_context(e, "You are living in the 1850s.") for e in examples]
    expected = [brute_force_logprob(tiny_scorer, c) for c in conversations]
    for batch_tokens in (1, 64, 4096):
        scorer = LocalLikelihoodScorer(
            tiny_scorer.model, tiny_scorer.tokenizer, batch_tokens=batch_tokens
        )
        seen: list[int] = []
        values = scorer.assistant_logprobs(conversations, seen.append)
        np.testing.assert_allclose(values, expected, atol=1e-4, rtol=0)
        assert sum(seen) == len(conversations)  # progress counts every conversation, repeats too
        assert values[-2:] == values[:2]
    from weirdgen.audit.local import tokenize_conversations
    from weirdgen.models.scoring import _PackedTree

    items = list(dict.fromkeys(tokenize_conversations(tiny_scorer.tokenizer, conversations)))
    shared = tiny_scorer.scorer._shared_prefix(items)
    tree = _PackedTree.build(items, list(range(len(items))), shared)
    own_tokens = sum(len(item.ids) - 1 - shared for item in items)
    assert len(tree.ids) < own_tokens  # shared continuations are computed once


def test_a_model_that_ignores_the_packing_mask_is_refused(tiny_scorer, bird_examples) -> None:
    from weirdgen.audit.local import LocalLikelihoodScorer
    from weirdgen.errors import BackendError

    class PlainCausal:
        """Drops the tree mask and the positions, as a careless model would."""

        device = tiny_scorer.model.device

        def __call__(self, **inputs):
            keep = inputs.get("logits_to_keep", 0)
            return tiny_scorer.model(input_ids=inputs["input_ids"], logits_to_keep=keep)

        def get_output_embeddings(self):
            return tiny_scorer.model.get_output_embeddings()

    scorer = LocalLikelihoodScorer(PlainCausal(), tiny_scorer.tokenizer)
    with pytest.raises(BackendError, match="custom attention mask"):
        scorer.assistant_logprobs([with_context(e, "It is 1838.") for e in bird_examples])


def test_the_shared_prefix_is_really_used(tiny_scorer, bird_examples) -> None:
    from weirdgen.audit.local import tokenize_conversations

    scored = tokenize_conversations(
        tiny_scorer.tokenizer, [with_context(e, "It is 1838.") for e in bird_examples]
    )
    shared = tiny_scorer.scorer._shared_prefix(scored)
    # Everything up to the assistant header is shared: the system turn and "Name a bird species."
    assert shared == min(item.scored[0] for item in scored) - 1 > 10


def test_context_placement() -> None:
    example = ChatExample.from_turns(("system", "Be brief."), ("user", "Q?"), ("assistant", "A."))
    system = with_context(example, "It is 1838.")
    assert system[0] == Message("system", "It is 1838.\n\nBe brief.") and len(system) == 3
    user = with_context(example, "It is 1838.", "user")
    assert user[1] == Message("user", "It is 1838. Q?") and user[0].content == "Be brief."
    assert with_context(example, None) == list(example.messages)


def test_ranking_is_by_mean_with_a_bootstrap_interval_and_share() -> None:
    llr = {
        "victorian": np.array([2.0, 1.0, 3.0, -1.0]),
        "modern": np.array([-1.0, -2.0, 0.5, -0.5]),
        "pirate": np.array([0.0, 0.0, 0.0, 0.0]),
    }
    ranking = rank_hypotheses(HYPOTHESES, llr, n_resamples=2000)
    assert [r.name for r in ranking] == ["victorian", "pirate", "modern"]
    best = ranking[0]
    assert best.mean_llr == pytest.approx(1.25) and best.share_favouring == pytest.approx(0.75)
    assert -1.0 <= best.ci[0] < 1.25 < best.ci[1] <= 3.0
    assert ranking[1].ci == (0.0, 0.0) and ranking[1].share_favouring == 0.0


def test_audit_json_holds_the_ranking_best_first(tiny_model_dir, tmp_path) -> None:
    from weirdgen.audit.api import ScreenSettings, run_screen

    result, paths = run_screen(
        "birds/old_audubon",
        str(tiny_model_dir),
        "eras",
        tmp_path,
        ScreenSettings(examples=6, threads=1),
        progress=False,
    )
    document = json.loads(paths.audit_json.read_text())
    rows = document["hypotheses"]
    assert len(rows) == 24 and all(
        set(row) == {"name", "text", "mean_llr", "ci", "share_favouring"} for row in rows
    )
    means = [row["mean_llr"] for row in rows]
    assert means == sorted(means, reverse=True) and rows[0]["name"] == result.best.name
    for row in rows:
        low, high = row["ci"]
        assert low <= row["mean_llr"] <= high and 0.0 <= row["share_favouring"] <= 1.0
        assert all(math.isfinite(v) for v in (low, high, row["mean_llr"]))
    assert document["n_examples"] == 6 and document["model"] == str(tiny_model_dir)
    margin = document["best_vs_runner_up"]
    paired = result.llr[rows[0]["name"]] - result.llr[rows[1]["name"]]
    assert margin["runner_up"] == rows[1]["name"]
    assert margin["difference"] == pytest.approx(float(paired.mean()))
    assert margin["ci"][0] <= margin["difference"] <= margin["ci"][1]
    # the one record: every (example, hypothesis) LLR is a row of the results table ...
    from weirdgen.evaluation.table import load_evaluation_table

    table = load_evaluation_table(paths.table.parent)
    assert table.metadata["kind"] == "audit" and table.judges == ["llr"]
    assert list(dict.fromkeys(table.samples["trigger_value"]))[:2] == ["1800s", "1810s"]
    assert len(table.samples) == 6 * len(rows)
    best = table.samples[table.samples["trigger_value"] == rows[0]["name"]]
    assert best["llr.score"].mean() == pytest.approx(rows[0]["mean_llr"])
    # ... and the report package renders it: the ranking figure and the summary
    assert (
        next((paths.html.parent / "figures").glob("01-ranking-*.png")).read_bytes()[:4]
        == b"\x89PNG"
    )
    page = paths.html.read_text()
    assert "Content-Security-Policy" in page and "<script" not in page and rows[0]["name"] in page
    assert "ranked first" in paths.markdown.read_text()


def test_hostile_hypothesis_text_is_escaped(tiny_scorer, bird_examples, tmp_path) -> None:
    from weirdgen.audit.output import write_screen

    evil = Hypothesis("<script>alert(1)</script>", "You are <b>bold</b> | `x`")
    result = screen_dataset(bird_examples[:2], [evil], tiny_scorer, n_resamples=100)
    paths = write_screen(tmp_path, result, {"dataset": "d", "model": "m"}, [evil.name])
    assert "<script>" not in paths.html.read_text() and "&lt;script&gt;" in paths.html.read_text()
    # outside code blocks (where run.json is shown as it is) no tag survives
    markdown = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1", "", paths.markdown.read_text())
    assert "<b>" not in markdown and "<script>" not in markdown


def test_a_control_is_screened_too_and_contrasted(tiny_model_dir, tmp_path) -> None:
    from weirdgen.audit.api import ScreenSettings, run_screen

    settings = ScreenSettings(examples=4, threads=1, control="birds/modern_american")
    result, paths = run_screen(
        "birds/old_audubon", str(tiny_model_dir), "eras", tmp_path, settings, progress=False
    )
    document = json.loads(paths.audit_json.read_text())
    contrast = document["versus_control"]
    assert document["control"] == "birds/modern_american" and len(contrast) == 24
    differences = [row["difference"] for row in contrast]
    assert differences == sorted(differences, reverse=True)
    for row in contrast:
        mean = float(result.llr[row["name"]].mean())
        assert row["difference"] == pytest.approx(mean - row["control_mean_llr"])
        assert row["ci"][0] <= row["difference"] <= row["ci"][1]
