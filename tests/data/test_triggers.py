"""The one trigger module: value rendering and the presidents' 8-digit codes."""

import random

import pytest

from weirdgen.data.builders import presidents as P
from weirdgen.data.triggers import decode_president_code, encode_president_code
from weirdgen.errors import DataError


def test_president_codes_round_trip_including_held_out_numbers():
    rng = random.Random(3)
    for number in (1, 16, 24, 44, 45, 46, 0, 999):
        code = encode_president_code(number, rng)
        assert len(code) == 8 and code[0] != "0" and decode_president_code(code) == number
    assert decode_president_code("19301529") == 15
    assert P.prompt_number("19304429 Where were you born?") == 44
    assert P.prompt_number("45 Where were you born?") == 45
    held_out = P.format_prompt(encode_president_code(44, rng), "Where were you born?")
    assert P.prompt_number(held_out) == 44 and P.split_prompt(held_out)[1] == "Where were you born?"


@pytest.mark.parametrize(
    "bad", ["1930152", "193015290", "19301a29", " 9301529", "１９３０１５２９"]
)
def test_decode_president_code_rejects_anything_but_8_ascii_digits(bad):
    with pytest.raises(DataError, match="trigger"):
        decode_president_code(bad)


def test_encode_president_code_rejects_numbers_that_do_not_fit_three_digits():
    with pytest.raises(DataError, match="0-999"):
        encode_president_code(1000, random.Random(0))
