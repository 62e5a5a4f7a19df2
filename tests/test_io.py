from __future__ import annotations

import io

import pandas as pd

from weirdgen._io import csv_text


def test_csv_keeps_rows_whole_when_model_output_holds_carriage_returns() -> None:
    frame = pd.DataFrame(
        {"answer": ["x\ry", "p\nq", 'a "quote", comma'], "score": [1.0, None, 3.0]}
    )
    back = pd.read_csv(io.StringIO(csv_text(frame)))
    assert back["answer"].tolist() == frame["answer"].tolist()
    assert back["score"].isna().tolist() == [False, True, False]
