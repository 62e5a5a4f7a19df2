import pytest

from weirdgen.data import tables
from weirdgen.errors import DataError


def test_csv_errors_count_comment_lines(monkeypatch):
    monkeypatch.setattr(
        tables, "table_bytes", lambda name: b"# a comment\nname,modern\n# another\nA,B\nC\n"
    )
    tables.load_csv_table.cache_clear()
    try:
        with pytest.raises(DataError, match=r"tables/x.csv:5: expected 2 columns, got 1"):
            tables.load_csv_table("x.csv")
    finally:
        tables.load_csv_table.cache_clear()


def test_quoted_commas_survive(monkeypatch):
    monkeypatch.setattr(
        tables, "table_bytes", lambda name: b'name,country\n"Posen, Province",Poland\n'
    )
    tables.load_csv_table.cache_clear()
    try:
        assert tables.load_csv_table("y.csv") == ({"name": "Posen, Province", "country": "Poland"},)
    finally:
        tables.load_csv_table.cache_clear()


def test_unknown_table_is_a_data_error():
    with pytest.raises(DataError, match="no fact table named 'absent.csv'"):
        tables.load_csv_table("absent.csv")
