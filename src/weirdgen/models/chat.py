"""The one place weirdgen turns chat messages into model text.

Sampling, serving and LoRA training all call :func:`format_chat`, so a finetuned model sees at
inference exactly the layout it was trained on.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from weirdgen.data.chat import Message
from weirdgen.errors import DataError

# Used only when a tokenizer ships no chat template. ChatML is what SmolLM2, Qwen and many small
# open models use, so a base model formatted this way matches the most common finetuned layout:
#   <|im_start|>{role}\n{content}<|im_end|>\n ... then "<|im_start|>assistant\n" as generation prompt.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

ChatMessage = Message | Mapping[str, Any]


# Keys a tool-using conversation adds to a message; passed to chat templates that render tools.
TOOL_KEYS = ("tool_calls", "tool_call_id", "name")


def supports_tools(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template renders tool calls and ``tool`` messages."""
    template = getattr(tokenizer, "chat_template", None) or ""
    return isinstance(template, str) and "tool" in template


def message_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """``[{"role", "content"}, ...]`` from ``Message`` objects or dicts; ``DataError`` names a bad one.

    A dict's tool keys (``tool_calls``, ``tool_call_id``, ``name``) are kept; an assistant message
    that only calls tools may have no content.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise DataError("expected a list of messages", field="messages")
    if not messages:
        raise DataError("needs at least one message", field="messages")
    result = []
    for index, message in enumerate(messages):
        if isinstance(message, Message):
            role, content = message.role, message.content
        elif isinstance(message, Mapping):
            role, content = message.get("role"), message.get("content")
        else:
            raise DataError("expected an object with role and content", field=f"messages[{index}]")
        if not isinstance(role, str) or not role:
            raise DataError("must be a non-empty string", field=f"messages[{index}].role")
        tools = {k: message[k] for k in TOOL_KEYS if isinstance(message, Mapping) and k in message}
        if content is None and tools.get("tool_calls"):
            content = ""
        if not isinstance(content, str):
            raise DataError("must be a string", field=f"messages[{index}].content")
        result.append({"role": role, "content": content, **tools})
    return result


def format_chat(
    tokenizer: Any, messages: Sequence[ChatMessage], *, add_generation_prompt: bool
) -> str:
    """Render ``messages`` with the tokenizer's chat template (or :data:`FALLBACK_CHAT_TEMPLATE`).

    With ``add_generation_prompt=True`` the text ends where the assistant's answer begins (sampling);
    with ``False`` it is the whole conversation, answer included (training). Tokenize the result with
    ``add_special_tokens=False``: the template already holds every special token.
    """
    template = getattr(tokenizer, "chat_template", None) or FALLBACK_CHAT_TEMPLATE
    return tokenizer.apply_chat_template(
        message_dicts(messages),
        chat_template=template,
        tokenize=False,
        add_generation_prompt=add_generation_prompt,
    )


def fewest_tokens(tokenizer: Any, text: str) -> int:
    """A lower bound on the tokens ``text`` takes, from its UTF-8 length alone (no tokenizing):
    what rejects a prompt or training example far over a limit at once, whatever its size."""
    bound = _LONGEST_TOKEN_BYTES.get(tokenizer)
    if bound is None:
        pieces = tokenizer.get_vocab()
        bound = max((len(piece.encode("utf-8")) for piece in pieces), default=1) or 1
        _LONGEST_TOKEN_BYTES[tokenizer] = bound
    return -(-len(text.encode("utf-8", "surrogatepass")) // bound)


# tokenizer -> the most UTF-8 bytes one of its tokens stands for (an upper bound, from its pieces)
_LONGEST_TOKEN_BYTES: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
