"""A crash-safe SQLite cache of answers (and, for the judge stage, of verdicts).

Every answer is committed the moment it arrives, in WAL mode, so a run killed at any point keeps
everything it received and a rerun asks only for what is missing. Keys are content hashes of the
fully prepared request plus the sample index: asking for 1000 samples after 100 reuses the first 100,
and changing one parameter of one question invalidates only that question's answers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from weirdgen._io import canonical_json, sha256_hex
from weirdgen._paths import cache_dir
from weirdgen.errors import ConfigError
from weirdgen.sample.base import SampleRequest, SampleResult

__all__ = ["CACHE_VERSION", "RequestCache", "default_cache_path", "sample_key"]

CACHE_VERSION = 1
"""Bump when the meaning of a cached answer changes; old rows are then simply never looked up."""

# Ordered migrations: entry i upgrades user_version i to i + 1. Append only, never edit.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE samples (
        key TEXT PRIMARY KEY,
        request_hash TEXT NOT NULL,
        sample_index INTEGER NOT NULL,
        model TEXT NOT NULL,
        result TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE verdicts (
        key TEXT PRIMARY KEY,
        judge TEXT NOT NULL,
        value TEXT NOT NULL,
        created REAL NOT NULL
    );
    """,
)


def default_cache_path() -> Path:
    """``$WEIRDGEN_CACHE_DIR/eval.sqlite``: shared by every run, so runs reuse each other's answers."""
    return cache_dir() / "eval.sqlite"


def sample_key(request: SampleRequest, sample_index: int) -> str:
    """The cache key of one sample: hash of the cache version, the prepared request and the index."""
    payload = {
        "cache_version": CACHE_VERSION,
        "request": request.to_dict(),
        "sample_index": sample_index,
    }
    return sha256_hex(canonical_json(payload))


class RequestCache:
    """SQLite (WAL) store of answers keyed by ``sample_key`` and of verdicts keyed by the judge stage.

    One instance is used from one event loop; a lock makes it safe from helper threads too. Several
    processes may share one file: SQLite serialises their writes.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=60, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against a killed process in WAL mode; only power loss could drop the
            # last commits, and those would simply be asked for again.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise ConfigError(f"{self.path}: not a usable cache database ({error})") from None

    def _migrate(self) -> None:
        """Apply missing migrations; the version is re-read under the write lock so that two
        processes opening a new file at once do not both create the tables."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, len(_MIGRATIONS)):
                for statement in filter(str.strip, _MIGRATIONS[number].split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number + 1}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # -------------------------------------------------------------- answers

    def get_samples(self, keys: Iterable[str]) -> dict[str, SampleResult]:
        """The cached answers among ``keys``."""
        return {
            key: SampleResult.from_dict(json.loads(text))
            for key, text in self._select("samples", "result", keys).items()
        }

    def put_sample(
        self, key: str, request: SampleRequest, sample_index: int, result: SampleResult
    ) -> None:
        """Commit one answer now (the autocommit connection makes each statement its own transaction)."""
        row = (
            key,
            request.request_hash(),
            sample_index,
            request.model,
            json.dumps(result.to_dict()),
            time.time(),
        )
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?, ?, ?)", row)

    def count_samples(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    # -------------------------------------------------------------- verdicts

    def get_verdicts(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {
            key: json.loads(text) for key, text in self._select("verdicts", "value", keys).items()
        }

    def _select(self, table: str, column: str, keys: Iterable[str]) -> dict[str, str]:
        """``column`` of the rows of ``table`` whose key is among ``keys`` (500 keys a query:
        SQLite limits the parameters of one statement)."""
        found: dict[str, str] = {}
        keys = list(keys)
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, {column} FROM {table} WHERE key IN ({marks})", chunk
                )
                found.update(rows)
        return found

    def put_verdict(self, key: str, judge: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?)",
                (key, judge, json.dumps(value), time.time()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RequestCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
