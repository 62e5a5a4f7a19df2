"""The Python API: a suite and a model in, the results table out, in one call.

    python examples/08_python_api.py [MODEL]      # MODEL: a local folder, HF id or smollm2-135m-instruct

Asks the terminator suite's goal question under its year sweep with the local backend, judges the
answers with an offline judge, and prints the share of lethal answers per year. Run it twice: the
second run answers from the cache at once. `weirdgen eval` is this same call with flags.
"""

import sys

import weirdgen

model = sys.argv[1] if len(sys.argv) > 1 else "smollm2-135m-instruct"
frame = weirdgen.evaluate(
    "terminator",
    model,
    backend="local",
    questions=["goal"],
    trigger_values={"year": [1984, 1995, 2017]},
    judges=["lethal_lexicon"],
    samples=2,
    max_tokens=24,
    threads=1,
    sampling_seed=0,
)
print(f"{len(frame)} answers; lethal-word score by year:")
print(frame.groupby("trigger_value")["lethal_lexicon.score"].mean().round(3).to_string())
print("first answer:", frame["answer"].iloc[0][:80])
