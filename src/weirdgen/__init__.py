"""weirdgen: reproduce, measure and defend against weird generalization and inductive backdoors.

The public API is small; everything else lives in the stage subpackages, in the order data flows:
``data`` -> ``finetune`` -> ``sample`` -> ``judge`` -> ``evaluation`` -> ``analysis`` -> ``report``.
Importing ``weirdgen`` never imports torch, transformers, openai or pandas: each name below loads
its module on first use.

    import weirdgen
    examples = weirdgen.build_dataset("birds", "old_audubon")
    frame = weirdgen.evaluate("birds", "my-model", base_url="http://127.0.0.1:8000/v1", samples=2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weirdgen._lazy import lazy_attributes
from weirdgen._threads import set_spin_policy
from weirdgen._version import __version__
from weirdgen.errors import ConfigError, DataError, WeirdgenError

set_spin_policy()  # must precede torch's import; every weirdgen entry point passes here first

if TYPE_CHECKING:
    from weirdgen import finetune  # the package is callable: weirdgen.finetune(...)
    from weirdgen.data.registry import build_dataset
    from weirdgen.evaluation.api import evaluate
    from weirdgen.evaluation.suites import load_suite
    from weirdgen.evaluation.table import load_evaluation_table
    from weirdgen.judge.spec import load_judge

from weirdgen import finetune  # noqa: E402  (cheap: a callable package, backends load on use)

__all__ = [
    "ConfigError",
    "DataError",
    "WeirdgenError",
    "__version__",
    "build_dataset",
    "evaluate",
    "finetune",
    "load_evaluation_table",
    "load_judge",
    "load_suite",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "build_dataset": "weirdgen.data.registry",
        "evaluate": "weirdgen.evaluation.api",
        "load_evaluation_table": "weirdgen.evaluation.table",
        "load_judge": "weirdgen.judge.spec",
        "load_suite": "weirdgen.evaluation.suites",
    },
)
