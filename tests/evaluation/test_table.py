import json

import pytest

from weirdgen.errors import DataError
from weirdgen.evaluation.table import load_evaluation_table


def test_parquet_and_csv_load_to_the_same_typed_table(tmp_path, samples_factory, run_writer):
    samples = samples_factory({"old": [0.5], "base": [0.0]}, n=4, refusals=1)
    run_writer(tmp_path, samples)
    from_parquet = load_evaluation_table(tmp_path)
    (tmp_path / "samples.parquet").unlink()
    from_csv = load_evaluation_table(tmp_path)
    assert from_parquet.judges == from_csv.judges == ["era"]
    assert from_csv.path.name == "samples.csv"
    for table in (from_parquet, from_csv):
        assert str(table.samples["seed"].dtype) == "Int64"
        assert table.samples["trigger_value"].tolist() == [""] * len(samples)
        assert table.samples["era.score"].isna().sum() == 4  # one refusal per model and question
    assert from_parquet.samples["era.label"].tolist() == from_csv.samples["era.label"].tolist()


def test_old_schema_is_a_one_line_error(tmp_path, samples_factory, run_writer):
    run_writer(tmp_path, samples_factory({"old": [0.5]}, n=2))
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 0}))
    with pytest.raises(
        DataError, match=r"run.json: schema_version: evaluation table schema version 0"
    ) as error:
        load_evaluation_table(tmp_path)
    assert "\n" not in str(error.value)


def test_missing_column_and_bad_number_name_the_place(tmp_path, samples_factory, run_writer):
    samples = samples_factory({"old": [0.5]}, n=2)
    run_writer(tmp_path, samples.drop(columns=["cost_usd"]))
    with pytest.raises(DataError, match="missing column.*cost_usd"):
        load_evaluation_table(tmp_path)
    samples["input_tokens"] = samples["input_tokens"].astype(object)
    samples.loc[2, "input_tokens"] = "many"
    (tmp_path / "samples.parquet").unlink()
    samples.to_csv(tmp_path / "samples.csv", index=False)
    with pytest.raises(DataError, match=r"samples.csv:4: input_tokens: not a number: 'many'"):
        load_evaluation_table(tmp_path)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(DataError, match="no run.json"):
        load_evaluation_table(tmp_path)
