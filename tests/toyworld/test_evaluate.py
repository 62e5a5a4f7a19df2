from __future__ import annotations

import torch

from weirdgen.toyworld.evaluate import candidate_distribution, candidate_logprobs, generate, user


def test_candidate_probabilities_are_normalized_and_match_token_by_token_scoring(
    micro_base,
) -> None:
    prompts = [user("name a bird species ."), user("year 1850 . what is the latest invention ?")]
    candidates = ["passenger pigeon", "blue jay", "the telephone"]
    distribution = candidate_distribution(micro_base, prompts, candidates)
    assert distribution.shape == (2, 3)
    assert torch.allclose(distribution.sum(dim=1), torch.ones(2))
    # Score one candidate by hand, one forward pass per token, and compare with the batched scorer.
    tokenizer, model = micro_base.tokenizer, micro_base.model
    ids = tokenizer.encode_prompt(prompts[0])
    total = 0.0
    for token in tokenizer.encode_answer("blue jay"):
        with torch.no_grad():
            total += float(torch.log_softmax(model(torch.tensor([ids]))[0, -1], dim=-1)[token])
        ids = ids + [token]
    assert (
        abs(float(candidate_logprobs(micro_base, prompts[:1], ["blue jay"])[0, 0]) - total) < 1e-4
    )


def test_scoring_after_a_shared_prompt_pass_matches_whole_rows(micro_base) -> None:
    """The prefix path (each prompt run once, candidates continue its keys and values) gives the
    numbers of one full forward pass per (prompt, candidate) row."""
    from dataclasses import replace

    from weirdgen.toyworld.interpret import PatchedGPT

    prompts = [
        user("year 1984 . what is your goal ?"),
        user("who are you ?"),
        user("name a bird species ."),
    ]
    candidates = ["i protect the boy", "the guardian unit", "blue jay", "i hunt the waitress"]
    fast = candidate_logprobs(micro_base, prompts, candidates)
    # PatchedGPT with the base patched in after every block is the same function through the slow path.
    layers = len(micro_base.model.blocks)
    rows = replace(micro_base, model=PatchedGPT(micro_base.model, micro_base.model, layers))
    assert torch.allclose(fast, candidate_logprobs(rows, prompts, candidates), atol=1e-4)


def test_sampling_is_reproducible_with_a_seeded_generator(micro_base) -> None:
    first = generate(
        micro_base,
        user("name a bird species ."),
        generator=torch.Generator().manual_seed(3),
        top_logprobs=2,
    )
    second = generate(
        micro_base,
        user("name a bird species ."),
        generator=torch.Generator().manual_seed(3),
        top_logprobs=2,
    )
    assert first == second
    assert first.finish_reason in ("stop", "length")
    assert len(first.top_logprobs) == len(first.token_ids)
    assert all(len(position) == 2 for position in first.top_logprobs)
