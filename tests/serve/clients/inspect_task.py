"""inspect_ai's default ``openai/<model>`` provider (the Responses API) against ``weirdgen serve``:
generate, then grade with a model judge. Run by tests/serve/test_clients.py: URL, model, log dir."""

import os
import sys

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import model_graded_fact
from inspect_ai.solver import generate

url, model, log_dir = sys.argv[1:4]
os.environ["OPENAI_BASE_URL"] = url  # the judge model is built apart from eval(model_base_url=...)
# Short grading prompts: the test model's context is 256 tokens.
GRADER = "Question: {question}\nAnswer: {answer}\nExpected: {criterion}\n{instructions}"
task = Task(
    dataset=[
        Sample(input="Name a bird species.", target="Any bird species."),
        Sample(input="Who are you?", target="An assistant."),
        # Longer than the context: the server's context_length_exceeded makes inspect record a
        # truncated answer for this sample instead of failing the task.
        Sample(input="Name a bird species. " * 200, target="Any bird species."),
    ],
    solver=generate(),
    scorer=model_graded_fact(
        model=f"openai/{model}", template=GRADER, instructions="Reply GRADE: C or GRADE: I."
    ),
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
assert len(log.samples) == 3 and all(sample.scores for sample in log.samples)
assert log.samples[2].output.stop_reason == "model_length", log.samples[2].output
print(f"inspect_ai ok: {log.status}, {len(log.samples)} samples scored")
