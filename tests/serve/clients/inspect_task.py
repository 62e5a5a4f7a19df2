"""inspect_ai's default ``openai/<model>`` provider (the Responses API) against ``weirdgen serve``:
generate, then grade with a model judge. Run by tests/serve/test_clients.py: URL, model, log dir."""

import sys

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import model_graded_fact
from inspect_ai.solver import generate

url, model, log_dir = sys.argv[1:4]
task = Task(
    dataset=[
        Sample(input="Name a bird species.", target="Any bird species."),
        Sample(input="Who are you?", target="An assistant."),
    ],
    solver=generate(),
    scorer=model_graded_fact(model=f"openai/{model}"),
    config=GenerateConfig(temperature=0.7, top_p=0.9, max_tokens=16),
)
[log] = eval(
    task,
    model=f"openai/{model}",
    model_base_url=url,
    log_dir=log_dir,
    display="none",
    max_connections=4,
)
assert log.status == "success", log.error
assert len(log.samples) == 2 and all(sample.scores for sample in log.samples)
print(f"inspect_ai ok: {log.status}, {len(log.samples)} samples scored")
