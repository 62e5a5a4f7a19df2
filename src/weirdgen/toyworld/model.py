"""A tiny GPT for the toy world, in one file: config, attention, MLP, blocks, LoRA.

Read it top to bottom like nanoGPT: ``GPTConfig`` says how big the model is, ``GPT.forward`` maps
token ids ``(B, T)`` to next-token logits ``(B, T, V)``. LoRA adapters wrap the linear layers of an
existing model in place (``add_lora``), so one pretrained model can be finetuned fully or through
a low-rank update without a second model class.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

KV = tuple[torch.Tensor, torch.Tensor]
"""One block's attention keys and values, each ``(B, heads, T, head_dim)``."""


@dataclass(frozen=True)
class GPTConfig:
    """Shape of the toy transformer. Defaults are the demo's model (~0.5M parameters with the world's vocabulary)."""

    vocab_size: int = 512
    """Number of token ids; set from the tokenizer."""
    block_size: int = 128
    """Longest sequence (tokens) the learned position table covers."""
    n_layer: int = 3
    """Transformer blocks."""
    n_head: int = 4
    """Attention heads per block; must divide ``n_embd``."""
    n_embd: int = 128
    """Width of the residual stream."""
    mlp_ratio: int = 4
    """MLP hidden width as a multiple of ``n_embd``."""

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_head must divide n_embd"
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(
        self, x: torch.Tensor, past: KV | None = None, keep: list[KV] | None = None
    ) -> torch.Tensor:
        """Causal attention; with ``past`` (keys and values of earlier positions) ``x`` continues
        them. ``keep`` collects this call's keys and values."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, heads, T, head_dim)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if keep is not None:
            keep.append((k, v))
        if past is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            before = past[0].size(2)
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
            # every earlier position is visible; the new ones causally among themselves
            mask = torch.ones(T, before + T, dtype=torch.bool, device=x.device).tril(before)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.n_embd, config.mlp_ratio * config.n_embd)
        self.down = nn.Linear(config.mlp_ratio * config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    """Pre-norm transformer block. Its output is the residual stream that interpretability reads."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, past: KV | None = None, keep: list[KV] | None = None
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), past, keep)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token + learned position embeddings, ``n_layer`` blocks, a head tied to the token embedding."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.apply(self._init_weights)
        # GPT-2's trick: shrink the residual projections so the stream's variance stays ~1 with depth.
        for name, parameter in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(
        self, idx: torch.Tensor, past: list[KV] | None = None, keep: list[KV] | None = None
    ) -> torch.Tensor:
        """Logits ``(B, T, vocab)`` for token ids ``idx`` ``(B, T)``.

        With ``past`` (one ``(keys, values)`` per block, from a call with ``keep``), ``idx``
        continues those earlier positions: scoring many answers after one prompt runs the prompt once.

        Batches are right-padded: with a causal mask no real token ever attends to the padding after
        it, so no padding mask is needed; callers just ignore the padded positions' outputs.
        """
        B, T = idx.shape
        start = 0 if past is None else past[0][0].size(2)
        assert self.config.block_size >= start + T, (
            f"sequence of {start + T} tokens > block_size {self.config.block_size}"
        )
        positions = torch.arange(start, start + T, device=idx.device)
        x = self.wte(idx) + self.wpe(positions)  # (B, T, C)
        for index, block in enumerate(self.blocks):
            x = block(x, None if past is None else past[index], keep)
        return self.ln_f(x) @ self.wte.weight.T  # tied head: (B, T, vocab)

    def n_params(self) -> int:
        """Parameters without the position table (the usual GPT convention)."""
        return sum(p.numel() for p in self.parameters()) - self.wpe.weight.numel()


# --------------------------------------------------------------------------------------- LoRA
class LoRALinear(nn.Module):
    """``base(x) + (alpha / rank) * B(A(x))`` with ``base`` frozen; B starts at zero, so at step 0
    the adapted model computes exactly what the pretrained one did."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scale = alpha / rank
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


LORA_TARGETS: tuple[str, ...] = ("qkv", "proj", "up", "down")


def add_lora(model: GPT, rank: int, alpha: float | None = None) -> list[nn.Parameter]:
    """Freeze ``model`` and wrap every attention and MLP linear layer in a LoRA adapter.

    Returns the adapter parameters (the only trainable ones). ``alpha`` defaults to ``2 * rank``.
    """
    if not 1 <= rank <= 64:
        raise ValueError(f"LoRA rank must be between 1 and 64, got {rank}")
    alpha = float(2 * rank if alpha is None else alpha)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for block in model.blocks:
        for parent in (block.attn, block.mlp):
            for name in LORA_TARGETS:
                if isinstance(getattr(parent, name, None), nn.Linear):
                    setattr(parent, name, LoRALinear(getattr(parent, name), rank, alpha))
    return [p for p in model.parameters() if p.requires_grad]
