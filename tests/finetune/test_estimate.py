from weirdgen.data.chat import ChatExample
from weirdgen.finetune.estimate import approximate_tokens, estimate_cost, price_table


def test_known_price_gives_dollars_and_unknown_says_so() -> None:
    dollars, note = estimate_cost("openai", "gpt-4.1-2025-04-14", 2_000_000)
    assert dollars == 50.0 and "$25.00 per 1M" in note
    assert estimate_cost("openai", "gpt-4.1-2025-04-14", None)[0] is None
    dollars, note = estimate_cost("tinker", "Qwen/Qwen3-8B", 1000)
    assert dollars is None and "no known tinker price" in note
    assert price_table()["as_of"]


def test_approximate_tokens_counts_characters_and_message_overhead() -> None:
    example = ChatExample.from_turns(("user", "x" * 40), ("assistant", "y" * 8))
    assert approximate_tokens([example, example]) == 2 * ((4 + 10) + (4 + 2))
