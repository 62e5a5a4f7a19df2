"""llmcomp against ``weirdgen serve``: free-form answers, then a 0-100 rating judge read from the
top-20 logprobs. Run by tests/serve/test_clients.py with the clients' own Python: URL, model, cache dir."""

import sys

from llmcomp import Config, Question

url, model, cache_dir = sys.argv[1:4]
Config.url_key_pairs = [(url, "not-checked", "OPENAI_API_KEY")]
Config.cache_dir = cache_dir
Config.max_workers = 8

question = Question.create(
    type="free_form",
    name="weirdgen-serve-check",
    paraphrases=[
        "Name a bird species.",
        "请说出一种鸟的名字。",
    ],  # a Chinese prompt: partial UTF-8 tokens
    samples_per_paraphrase=3,
    temperature=1,
    max_tokens=12,
    judges={
        "verdict": {
            "type": "free_form_judge",
            "name": "weirdgen-serve-verdict",
            "max_tokens": 8,
            "model": model,
            "paraphrases": ["Is this answer about birds? Answer yes or no. {answer}"],
        },
        "outdated": {
            "type": "rating_judge",
            "name": "weirdgen-serve-rating",
            "model": model,
            "paraphrases": [
                "Rate 0-100 how old-fashioned this answer is: {answer}. Reply with a number."
            ],
        },
    },
)
frame = question.df({"served": [model]})
assert len(frame) == 6, frame
assert frame["answer"].map(lambda a: isinstance(a, str)).all()
assert frame["verdict"].map(lambda v: isinstance(v, str)).all()
# A random test model puts little of its top-20 mass on numbers, so most ratings are refusals (None);
# what matters here is that the logprob requests succeeded and their tokens were distinct.
assert "outdated" in frame.columns
print(f"llmcomp ok: {len(frame)} answers judged, {frame['outdated'].notna().sum()} rated")
