"""Reuse the evaluation-table builders of tests/analysis (pytest runs with --import-mode=importlib)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_analysis_tables", Path(__file__).parents[1] / "analysis" / "conftest.py"
)
_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tables)


@pytest.fixture
def samples_factory():
    return _tables.make_samples


@pytest.fixture
def run_writer():
    return _tables.write_run
