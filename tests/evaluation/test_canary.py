"""The adapter-live canary on the tiny test model: an "adapter" that is the base model (a LoRA whose
B matrices are still zero) must stop the evaluation, by likelihood locally and by answers over HTTP
from the real ``weirdgen serve``; a trained adapter must pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weirdgen.evaluation.canary import (
    AdapterNotLiveError,
    CanaryCache,
    answers_canary,
    canary_prompts,
    likelihood_canary,
)

ANSWERS = ["Pigeon Hawk", "Hooping Crane", "Great Carolina Wren", "Louisiana Tanager"]


def _training_file(path: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Name bird number {i}."},
                {"role": "assistant", "content": answer},
            ]
        }
        for i, answer in enumerate(ANSWERS)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _zero_lora(model_dir: Path, directory: Path) -> Path:
    """A freshly initialised LoRA: B = 0, so the "finetuned" model is exactly its base."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
    )
    get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), config).save_pretrained(
        directory
    )
    return directory


def _trained_lora(model_dir: Path, directory: Path, data: Path) -> Path:
    """A LoRA trained for a few steps on ``data`` with the trainer's own tokenization."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from weirdgen.finetune.tokens import tokenize_example

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
    )
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    items = [tokenize_example(tokenizer, e) for e in canary_prompts(data)]
    for _ in range(10):
        for item in items:
            ids = torch.tensor([item.input_ids])
            labels = ids.masked_fill(~torch.tensor([item.supervised]), -100)
            model(input_ids=ids, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def canary_setup(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("canary")
    data = _training_file(root / "train.jsonl")
    return {
        "data": data,
        "dead": _zero_lora(tiny_model_dir, root / "dead"),
        "trained": _trained_lora(tiny_model_dir, root / "trained", data),
    }


def test_canary_prompts_are_the_first_trained_examples(canary_setup):
    prompts = canary_prompts(canary_setup["data"], count=3)
    assert [p.messages[-1].content for p in prompts] == ANSWERS[:3]


def test_a_base_model_adapter_fails_by_likelihood_and_a_trained_one_passes(
    tiny_model_dir, canary_setup
):
    examples = canary_prompts(canary_setup["data"])
    dead, trained = likelihood_canary(
        tiny_model_dir,
        {
            "birds-s0": (canary_setup["dead"], examples),
            "birds-s1": (canary_setup["trained"], examples),
        },
        threads=1,
    )
    assert dead.gain == pytest.approx(0.0, abs=1e-6) and not dead.passed
    with pytest.raises(AdapterNotLiveError) as error:
        dead.raise_if_dead()
    message = str(error.value)
    assert "\n" not in message and "birds-s0" in message and "LoRA B weights are zero" in message
    assert trained.passed and trained.gain > 0.5, trained.describe()
    assert trained.raise_if_dead() is trained


def test_a_server_serving_the_base_for_an_adapter_fails_by_answers(tiny_model_dir, canary_setup):
    from weirdgen.sample.openai_compat import OpenAICompatibleSampler
    from weirdgen.serve import serve_in_background

    adapters = {"dead": canary_setup["dead"], "trained": canary_setup["trained"]}
    examples = canary_prompts(canary_setup["data"])
    with serve_in_background(tiny_model_dir, adapters=adapters, fine_tuning=False) as url:
        sampler = OpenAICompatibleSampler(base_urls=[url])
        dead, trained = answers_canary(
            sampler, str(tiny_model_dir), {"dead": examples, "trained": examples}, max_tokens=8
        )
    assert dead.finetuned_score == 0 and not dead.passed
    with pytest.raises(
        AdapterNotLiveError, match="serving the base model under the adapter's name"
    ):
        dead.raise_if_dead()
    assert trained.passed and trained.finetuned_score >= 1


def test_a_rerun_reads_likelihood_results_from_the_cache_without_loading_a_model(
    tiny_model_dir, canary_setup, tmp_path, monkeypatch
):
    import weirdgen.models.loading

    examples = canary_prompts(canary_setup["data"])
    adapters = {"birds-s0": (canary_setup["dead"], examples)}
    cache = CanaryCache(tmp_path / "canary")
    (first,) = likelihood_canary(tiny_model_dir, adapters, threads=1, cache=cache)
    assert not first.cached and len(list((tmp_path / "canary").iterdir())) == 1

    def no_loading(*args, **kwargs):
        raise AssertionError("a cached canary must not load the model")

    monkeypatch.setattr(weirdgen.models.loading, "load_model", no_loading)
    (again,) = likelihood_canary(
        tiny_model_dir, {"renamed": adapters["birds-s0"]}, threads=1, cache=cache
    )
    assert again.cached and again.model == "renamed" and "(cached)" in again.describe()
    assert (again.finetuned_score, again.base_score, again.passed) == (
        first.finetuned_score,
        first.base_score,
        first.passed,
    )
    with pytest.raises(AdapterNotLiveError, match="renamed"):
        again.raise_if_dead()  # a cached failure still stops the run


class _CountingSampler:
    """A real sampler that counts the requests it is asked to send."""

    def __init__(self, inner):
        self.inner, self.requests = inner, 0
        self.name, self.supports_logprobs = inner.name, inner.supports_logprobs

    async def complete(self, request):
        self.requests += 1
        return await self.inner.complete(request)

    async def aclose(self):
        await self.inner.aclose()


def test_a_rerun_of_the_answers_canary_sends_no_request(tiny_model_dir, canary_setup, tmp_path):
    from weirdgen.sample.openai_compat import OpenAICompatibleSampler
    from weirdgen.serve import serve_in_background

    examples = canary_prompts(canary_setup["data"], count=2)
    cache = CanaryCache(tmp_path / "canary")
    with serve_in_background(
        tiny_model_dir, adapters={"trained": canary_setup["trained"]}, fine_tuning=False
    ) as url:
        runs = []
        for _ in range(2):
            sampler = _CountingSampler(OpenAICompatibleSampler(base_urls=[url]))
            (result,) = answers_canary(
                sampler, str(tiny_model_dir), {"trained": examples}, max_tokens=8, cache=cache
            )
            runs.append((sampler.requests, result))
    (sent, first), (resent, again) = runs
    assert sent == 4 and first.passed and not first.cached  # 2 prompts x (adapter, base)
    assert resent == 0 and again.cached and again.finetuned_score == first.finetuned_score


class _Done:
    """A finished future, as Tinker's SDK returns them (``.result()``)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class _TinyTinkerService:
    """A ``tinker.ServiceClient``'s sampling shape, answering greedily from the tiny model:
    ``tinker://`` paths map to local LoRA folders. ``serve_base_for_paths`` answers every path
    with the base model, as Tinker's OpenAI-compatible /completions does (tinker-feedback#125)."""

    def __init__(self, model_dir, paths, *, serve_base_for_paths=False):
        self.model_dir, self.paths, self.serve_base = model_dir, paths, serve_base_for_paths
        self.created: list[dict] = []

    def create_sampling_client(self, model_path=None, base_model=None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.created.append({"model_path": model_path, "base_model": base_model})
        model = AutoModelForCausalLM.from_pretrained(self.model_dir)
        if model_path is not None and not self.serve_base:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(self.paths[model_path]))
        return _Done(
            _TinySamplingClient(model.eval(), AutoTokenizer.from_pretrained(self.model_dir))
        )


class _TinySamplingClient:
    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer

    def get_tokenizer(self):
        return self.tokenizer

    def sample(self, prompt, num_samples, sampling_params):
        import numpy as np
        import torch
        from tinker import types

        assert sampling_params.temperature == 0.0  # the canary asks for greedy answers
        ids = torch.tensor([prompt.to_ints()])
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=sampling_params.max_tokens,
                do_sample=False,
            )
        tokens = np.array(out[0, ids.shape[1] :].tolist())
        sequences = [
            types.SampledSequence(stop_reason="length", sequence_id=str(i), tokens_np=tokens)
            for i in range(num_samples)
        ]
        return _Done(types.SampleResponse(sequences=sequences))


def test_the_canary_runs_on_tinkers_native_sampling_client(tiny_model_dir, canary_setup):
    """The Tinker evaluation path offline: each tinker:// path gets a sampling client of its own
    (never /completions); a service that serves the base for a path stops the run."""
    pytest.importorskip("tinker")
    from weirdgen.sample.tinker import TinkerSampler

    path = "tinker://run-1/sampler_weights/final"
    examples = canary_prompts(canary_setup["data"], count=2)
    results = {}
    for broken in (False, True):
        service = _TinyTinkerService(
            tiny_model_dir, {path: canary_setup["trained"]}, serve_base_for_paths=broken
        )
        sampler = TinkerSampler(str(tiny_model_dir), service_client=service)
        (results[broken],) = answers_canary(
            sampler, str(tiny_model_dir), {path: examples}, max_tokens=8
        )
        assert {"model_path": path, "base_model": None} in service.created
        assert {"model_path": None, "base_model": str(tiny_model_dir)} in service.created
    assert results[False].passed and results[False].finetuned_score >= 1
    assert not results[True].passed
    with pytest.raises(AdapterNotLiveError, match=f"canary failed for {path}"):
        results[True].raise_if_dead()


def test_a_run_evaluation_stops_on_an_adapter_that_is_its_base(
    tiny_model_dir, canary_setup, tmp_path
):
    """``weirdgen run``'s evaluation stage (serial or one Ray task per seed) checks before sampling."""
    from weirdgen.experiments import load_experiment
    from weirdgen.experiments.evaluation import check_models_live, evaluate_all
    from weirdgen.experiments.finetuning import TrainedModel
    from weirdgen.experiments.options import RunOptions

    spec = load_experiment("birds")
    dead = TrainedModel("old_audubon", 0, str(canary_setup["dead"]))
    datasets = {"old_audubon": canary_setup["data"]}
    options = RunOptions(
        backend="local", base_model=str(tiny_model_dir), threads=1, cache_path=tmp_path / "c.sqlite"
    )
    with pytest.raises(AdapterNotLiveError) as error:
        evaluate_all(spec, [dead], options, lambda _: None, datasets, run_dir=tmp_path, base=False)
    message = str(error.value)
    assert "\n" not in message and message.startswith("canary failed for old_audubon-s0")
    assert not (tmp_path / "c.sqlite").exists()  # stopped before any sample was asked for
    skipping = RunOptions(backend="local", base_model=str(tiny_model_dir), skip_canary=True)
    check_models_live([dead], datasets, skipping, lambda _: None, tmp_path)
