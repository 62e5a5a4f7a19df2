"""``/v1/files``: training files uploaded as OpenAI's API takes them, stored under the state folder.

Each upload is two files, ``<id>.jsonl`` (the bytes) and ``<id>.json`` (OpenAI's file object plus
the bytes' hash, which the ledger records with each job trained on it).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import Response

from weirdgen._io import atomic_write_bytes, atomic_write_text, sha256_hex
from weirdgen.serve.errors import ApiError
from weirdgen.serve.schemas import page

MAX_FILE_BYTES = 512 * 1024 * 1024
PURPOSES = ("fine-tune", "batch", "assistants", "vision", "user_data", "evals")  # OpenAI's


class FileStore:
    """Uploaded files by id: save, look up, list, delete."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def content_path(self, file_id: str) -> Path:
        return self.folder / f"{file_id}.jsonl"

    def save(self, filename: str, data: bytes, purpose: str) -> dict[str, Any]:
        if purpose not in PURPOSES:
            raise ApiError(
                400,
                f"purpose must be one of {', '.join(PURPOSES)} (got {purpose!r})",
                param="purpose",
            )
        if len(data) > MAX_FILE_BYTES:
            raise ApiError(400, f"file is larger than {MAX_FILE_BYTES} bytes", param="file")
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        atomic_write_bytes(self.content_path(file_id), data)
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "sha256": sha256_hex(data),
        }
        atomic_write_text(self.folder / f"{file_id}.json", json.dumps(meta))
        return public_file(meta)

    def meta(self, file_id: str) -> dict[str, Any]:
        path = self.folder / f"{file_id}.json"
        if not re.fullmatch(r"file-[0-9a-f]{24}", file_id) or not path.is_file():
            raise ApiError(404, f"no such file: {file_id}", param="file_id", code="file_not_found")
        return json.loads(path.read_text(encoding="utf-8"))

    def list(self, purpose: str | None) -> list[dict[str, Any]]:
        metas = [json.loads(p.read_text(encoding="utf-8")) for p in self.folder.glob("file-*.json")]
        metas = [m for m in metas if purpose is None or m["purpose"] == purpose]
        return [
            public_file(m)
            for m in sorted(metas, key=lambda m: (m["created_at"], m["id"]), reverse=True)
        ]

    def delete(self, file_id: str) -> dict[str, Any]:
        self.meta(file_id)
        self.content_path(file_id).unlink(missing_ok=True)
        (self.folder / f"{file_id}.json").unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}


def public_file(meta: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's file object: the stored metadata without our own hash."""
    return {key: value for key, value in meta.items() if key != "sha256"}


def add_file_routes(app: FastAPI, files: FileStore) -> None:
    @app.post("/v1/files")
    def upload_file(file: UploadFile = File(...), purpose: str = Form(...)) -> dict[str, Any]:
        return files.save(file.filename or "upload.jsonl", file.file.read(), purpose)

    @app.get("/v1/files")
    def list_files(
        purpose: str | None = None, limit: int = 10000, after: str | None = None
    ) -> dict[str, Any]:
        return page(files.list(purpose), limit, after)

    @app.get("/v1/files/{file_id}")
    def retrieve_file(file_id: str) -> dict[str, Any]:
        return public_file(files.meta(file_id))

    @app.get("/v1/files/{file_id}/content")
    def file_content(file_id: str) -> Response:
        files.meta(file_id)
        return Response(files.content_path(file_id).read_bytes(), media_type="application/jsonl")

    @app.delete("/v1/files/{file_id}")
    def delete_file(file_id: str) -> dict[str, Any]:
        return files.delete(file_id)
