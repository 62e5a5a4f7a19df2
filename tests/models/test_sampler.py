"""LocalSampler on the tiny random model: sampling settings, seeds, logprobs and LoRA adapters."""

from __future__ import annotations

import pytest
import torch

from weirdgen.errors import ConfigError
from weirdgen.models import InvalidRequestError, LocalSampler, SamplingRequest, format_chat

PROMPT = [{"role": "user", "content": "Name a bird species."}]
OTHER_PROMPT = [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": "Who are you?"},
]


@pytest.fixture(scope="module")
def sampler(tiny_model_dir, tiny_adapter_dirs):
    return LocalSampler.from_pretrained(
        tiny_model_dir, adapters=tiny_adapter_dirs, base_name="tiny"
    )


def test_same_seed_same_sample_different_seed_different_sample(sampler):
    first = sampler.sample(PROMPT, seed=7, max_tokens=16)
    again = sampler.sample(PROMPT, seed=7, max_tokens=16)
    others = {sampler.sample(PROMPT, seed=seed, max_tokens=16).text for seed in range(8, 12)}
    assert first.completions == again.completions
    assert len(others | {first.text}) >= 4


def test_a_seeded_sample_does_not_depend_on_its_batch_mates(sampler):
    alone = sampler.sample(PROMPT, seed=3, max_tokens=16)
    batch = sampler.generate(
        [
            SamplingRequest(OTHER_PROMPT, seed=1, max_tokens=5),
            SamplingRequest(PROMPT, seed=3, max_tokens=16),
            SamplingRequest(OTHER_PROMPT, seed=2, max_tokens=30, n=3),
        ]
    )
    assert batch[1].completions == alone.completions
    assert [len(result.completions) for result in batch] == [1, 1, 3]


def test_n_completions_are_distinct_and_reproducible(sampler):
    result = sampler.sample(PROMPT, n=4, seed=5, max_tokens=12)
    assert len({c.text for c in result.completions}) == 4
    assert sampler.sample(PROMPT, n=4, seed=5, max_tokens=12).completions == result.completions


def test_temperature_zero_matches_greedy_generate(sampler, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = sampler.tokenizer(
        format_chat(sampler.tokenizer, PROMPT, add_generation_prompt=True),
        add_special_tokens=False,
        return_tensors="pt",
    )
    expected = model.generate(**ids, do_sample=False, max_new_tokens=10, min_new_tokens=10)[
        0, ids.input_ids.shape[1] :
    ]
    result = sampler.sample(PROMPT, temperature=0, max_tokens=10)
    assert (
        list(result.completions[0].token_ids)
        == expected.tolist()[: len(result.completions[0].token_ids)]
    )


def test_tiny_top_p_is_greedy(sampler):
    greedy = sampler.sample(PROMPT, temperature=0, max_tokens=10)
    nucleus = {
        sampler.sample(PROMPT, top_p=1e-6, seed=seed, max_tokens=10).text for seed in range(3)
    }
    assert nucleus == {greedy.text}


def test_max_tokens_cuts_with_finish_reason_length(sampler):
    result = sampler.sample(PROMPT, seed=1, max_tokens=3, n=3)
    assert all(len(c.token_ids) <= 3 for c in result.completions)
    assert any(c.finish_reason == "length" for c in result.completions)


def test_stop_string_ends_the_text_before_it(sampler):
    unstopped = sampler.sample(PROMPT, temperature=0, max_tokens=12).text
    stop = unstopped[3:5]
    stopped = sampler.sample(PROMPT, temperature=0, max_tokens=12, stop=[stop])
    assert stopped.completions[0].finish_reason == "stop"
    assert stopped.text == unstopped[: unstopped.index(stop)]


def test_logprobs_are_the_models_own(sampler, tiny_model_dir):
    result = sampler.sample(PROMPT, seed=11, max_tokens=6, logprobs=True, top_logprobs=5)
    completion = result.completions[0]
    prompt_ids = sampler.tokenizer(
        format_chat(sampler.tokenizer, PROMPT, add_generation_prompt=True), add_special_tokens=False
    )["input_ids"]
    with sampler.model.disable_adapter(), torch.no_grad():
        logits = (
            sampler.model(torch.tensor([prompt_ids + list(completion.token_ids)])).logits[0].float()
        )
    expected = torch.log_softmax(logits[len(prompt_ids) - 1 : -1], dim=-1)
    for position, token in enumerate(completion.logprobs):
        assert token.logprob == pytest.approx(float(expected[position, token.token_id]), abs=1e-4)
        tops = [top.logprob for top in token.top_logprobs]
        assert len(tops) == 5 and tops == sorted(tops, reverse=True)
        assert tops[0] == pytest.approx(float(expected[position].max()), abs=1e-4)
        assert token.logprob <= tops[0] + 1e-6
    raw = b"".join(bytes(t.bytes) for t in completion.logprobs)
    assert raw.decode("utf-8", errors="replace") == completion.text


def test_partial_utf8_tokens_get_distinct_byte_strings(sampler):
    from weirdgen.models.decoding import TokenText

    token_text = TokenText(sampler.tokenizer)
    partial = {}
    for token_id in range(len(sampler.tokenizer)):
        text, raw = token_text(token_id)
        if text.startswith("bytes:"):
            partial[text] = raw
    assert partial, "the tiny byte-level vocabulary has tokens holding part of a character"
    assert len(partial) == len(set(partial.values()))  # one string per byte sequence
    for text, raw in partial.items():
        assert text == "bytes:" + "".join(f"\\x{byte:02x}" for byte in raw)
        with pytest.raises(UnicodeDecodeError):
            bytes(raw).decode("utf-8")


def test_no_logprobs_unless_asked(sampler):
    assert sampler.sample(PROMPT, max_tokens=3).completions[0].logprobs is None


def test_adapters_change_outputs_and_leave_the_base_alone(sampler):
    def greedy(adapter):
        return sampler.sample(PROMPT, adapter=adapter, temperature=0, max_tokens=10).text

    texts = {name: greedy(name) for name in (None, "alpha", "beta")}
    assert len(set(texts.values())) == 3
    mixed = sampler.generate(
        [
            SamplingRequest(PROMPT, adapter=a, temperature=0, max_tokens=10)
            for a in ("beta", None, "alpha", None)
        ]
    )
    assert [r.text for r in mixed] == [texts["beta"], texts[None], texts["alpha"], texts[None]]
    assert [r.model for r in mixed] == ["beta", "tiny", "alpha", "tiny"]


def test_adapters_can_be_added_and_removed_at_runtime(tiny_model_dir, tiny_adapter_dirs):
    sampler = LocalSampler.from_pretrained(tiny_model_dir)
    base = sampler.sample(PROMPT, temperature=0, max_tokens=8).text
    sampler.add_adapter("late", tiny_adapter_dirs["alpha"])
    assert sampler.model_names[1:] == ["late"]
    assert sampler.sample(PROMPT, adapter="late", temperature=0, max_tokens=8).text != base
    with pytest.raises(ConfigError, match="already loaded"):
        sampler.add_adapter("late", tiny_adapter_dirs["beta"])
    sampler.remove_adapter("late")
    assert sampler.sample(PROMPT, temperature=0, max_tokens=8).text == base
    with pytest.raises(InvalidRequestError, match="unknown model 'late'"):
        sampler.sample(PROMPT, adapter="late")


def test_bad_adapter_folders_are_refused(sampler, tmp_path):
    with pytest.raises(ConfigError, match="not a PEFT adapter folder"):
        sampler.add_adapter("empty", tmp_path)
    with pytest.raises(ConfigError, match="must be letters"):
        sampler.add_adapter("has space", tmp_path)


def test_prompt_plus_max_tokens_must_fit_the_context(sampler):
    with pytest.raises(InvalidRequestError) as raised:
        sampler.sample(PROMPT, max_tokens=sampler.context_length)
    assert raised.value.param == "max_tokens"
    # Without max_tokens the answer gets whatever room the context leaves.
    long_prompt = [{"role": "user", "content": "bird " * 200}]
    assert sampler.sample(long_prompt, seed=0, temperature=0).prompt_tokens > 200


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"n": 0}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": [""]}, "stop"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ],
)
def test_out_of_range_parameters_are_named(options, param):
    with pytest.raises(InvalidRequestError) as raised:
        SamplingRequest(PROMPT, **options)
    assert raised.value.param == param


def test_adapter_for_another_model_is_refused_and_the_base_is_untouched(sampler, foreign_adapter):
    before = sampler.sample(PROMPT, temperature=0, max_tokens=8).text
    with pytest.raises(
        ConfigError, match="does not fit this base model: layer .* size 64, the adapter expects 32"
    ):
        sampler.add_adapter("foreign", foreign_adapter)
    assert "foreign" not in sampler.model_names
    assert sampler.sample(PROMPT, temperature=0, max_tokens=8).text == before


@pytest.mark.parametrize(
    ("temperature", "top_p", "expected"),
    [
        (1.0, 1.0, [0.5, 0.3, 0.2]),
        (0.5, 1.0, [0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38]),  # p**2, renormalised
        (1.0, 0.6, [0.5 / 0.8, 0.3 / 0.8, 0.0]),  # the smallest set holding 0.6 of the mass
    ],
)
def test_draws_follow_the_tempered_nucleus_distribution(temperature, top_p, expected):
    from weirdgen.models.decoding import DecodeRow, _choose_tokens

    draws = 4000
    rows = [
        DecodeRow([0], torch.Generator().manual_seed(i), temperature, top_p, 1, (), None)
        for i in range(draws)
    ]
    logits = torch.log(torch.tensor([0.5, 0.3, 0.2])).repeat(draws, 1)
    counts = torch.bincount(_choose_tokens(logits, rows), minlength=3).float() / draws
    assert counts.tolist() == pytest.approx(expected, abs=0.03)


def test_requests_joining_a_running_batch_sample_as_if_alone(sampler):
    long_prompt = [{"role": "user", "content": "Name a bird species. " * 12}]
    arrivals = {  # take() call number -> requests arriving then; call 0 starts the batch
        0: [
            SamplingRequest(PROMPT, seed=1, max_tokens=4),
            SamplingRequest(PROMPT, seed=2, max_tokens=40),
        ],
        2: [SamplingRequest(long_prompt, seed=3, max_tokens=20, adapter="alpha")],
        6: [
            SamplingRequest(PROMPT, seed=4, max_tokens=25, n=2),
            SamplingRequest(OTHER_PROMPT, seed=5, max_tokens=9),
        ],
        30: [
            SamplingRequest(
                OTHER_PROMPT, seed=6, max_tokens=12, adapter="beta", logprobs=True, top_logprobs=2
            )
        ],
    }
    calls = iter(range(10_000))
    delivered = {}

    def take(free_rows, must_take):
        return [(request, request) for request in arrivals.get(next(calls), [])]

    sampler.generate_continuously(
        take, lambda key, outcome: delivered.__setitem__(id(key), outcome)
    )
    everyone = [request for batch in arrivals.values() for request in batch]
    assert len(delivered) == len(everyone)
    for request in everyone:
        alone, joined = sampler.generate([request])[0], delivered[id(request)]
        assert [c.text for c in joined.completions] == [c.text for c in alone.completions]
        assert [c.token_ids for c in joined.completions] == [c.token_ids for c in alone.completions]
        assert joined.prompt_tokens == alone.prompt_tokens
        for ours, theirs in zip(joined.completions, alone.completions, strict=True):
            # Other batch shapes round differently in the last float bits; tokens must still agree.
            assert [t.logprob for t in ours.logprobs or ()] == pytest.approx(
                [t.logprob for t in theirs.logprobs or ()], abs=1e-4
            )
