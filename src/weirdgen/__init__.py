"""weirdgen: reproduce, measure and defend against weird generalization and inductive backdoors.

The top-level package stays light: importing it never imports torch, transformers or openai.
Stages live in subpackages, in the order data flows: ``data`` -> ``finetune`` -> ``sample`` ->
``judge`` -> ``analysis`` -> ``report``.
"""

from weirdgen.errors import DataError, WeirdgenError

__version__ = "0.1.0"
__all__ = ["DataError", "WeirdgenError", "__version__"]
