"""Exact token log-probabilities under a local causal LM: the one scorer of the adapter-live canary,
the audit's likelihood screen and the scan's first-token distributions.

Sequences scored together usually share a long token prefix (the chat template's header, a system
prompt, the audit's hypothesis context, the scan's template up to the value) and each has only a
few tokens of its own. So the prefix's keys and values are computed once per call, and the
sequences' own tokens are *packed* after it: each row of a forward pass holds many sequences' own
tokens as a token tree (a continuation several sequences share, such as a bird name's first word or
a year's digits, is one node), with an attention mask that lets each node see the prefix and its
own ancestors only, and position ids that are each token's position in its sequence. Rows are short
(``row_tokens``), since attention inside a row costs the square of its length, and a pass holds
several of them (``batch_tokens`` in all), padded only to the longest row of the pass. Identical
sequences are computed once, and the output layer (a 49k-word softmax for SmolLM2) runs only at
the positions whose prediction some row of the pass wants.

Each pack can run under several PEFT adapters at once (``variants``: the rows of one batch, e.g.
the base and a LoRA adapter, routed by PEFT's per-row ``adapter_names``), so a finetuned model and
its base are compared in one forward pass. The numbers equal those of a one-by-one forward pass up
to float rounding; every scorer checks this once on its first sequences and refuses a model whose
attention ignores a custom mask or explicit positions (``reuse_prefix=False`` packs whole
sequences without a shared prefix).

    scorer = TokenScorer(model)
    scorer.logprob_sums([TokenSequence(ids, scored=(5, 6, 7))])   # log p(tokens 5..7 | before)
    scorer.next_token_logits([prompt_ids], variants=["__base__", "finetuned"])  # (2, 1, vocab)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from weirdgen.errors import BackendError

__all__ = ["BASE_VARIANT", "TokenScorer", "TokenSequence", "common_prefix_length"]

BASE_VARIANT = "__base__"
"""PEFT's name for "no adapter" in a batch of mixed adapters."""


@dataclass(frozen=True)
class TokenSequence:
    """Token ids and the positions of the tokens to score."""

    ids: tuple[int, ...]
    scored: tuple[int, ...] = ()
    """Positions (each >= 1, ascending) whose log-probability given the tokens before is summed;
    empty asks for the distribution of the token after the last one."""

    @property
    def rows(self) -> tuple[int, ...]:
        """Positions whose output is needed: the logits at t - 1 predict token t."""
        return tuple(t - 1 for t in self.scored) if self.scored else (len(self.ids) - 1,)


@dataclass
class _PackedTree:
    """A pack's own tokens as a tree, after the shared prefix (whose keys and values are cached).

    Sequences of a pack differ only after the shared prefix, and often not at once: each distinct
    continuation is one node, computed once. A node attends to the prefix and to its ancestors
    (never to another branch) and sits at the position it has in its sequences, so its hidden
    state is exactly that of each sequence through it; nothing is padded.
    """

    shared: int
    """Length of the shared prefix before the nodes."""
    ids: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    """Per node, its parent's index in ``ids``; -1 for a node right after the prefix."""
    rows: list[list[int]] = field(default_factory=list)
    """Per sequence of the pack, the nodes whose outputs it needs (``TokenSequence.rows``)."""

    @classmethod
    def build(cls, items: Sequence[TokenSequence], pack: list[int], shared: int) -> _PackedTree:
        tree = cls(shared)
        children: dict[tuple[int, int], int] = {}
        for index in pack:
            item, parent, path = items[index], -1, []
            # Tokens after the last needed row only ever are targets: their outputs predict nothing.
            for depth, token in enumerate(item.ids[shared : item.rows[-1] + 1]):
                if (parent, token) not in children:
                    children[(parent, token)] = len(tree.ids)
                    tree.ids.append(token)
                    tree.positions.append(shared + depth)
                    tree.parents.append(parent)
                parent = children[(parent, token)]
                path.append(parent)
            tree.rows.append([path[row - shared] for row in item.rows])
        return tree

    def mask(self, device: Any) -> Any:
        """``(nodes, shared + nodes)`` booleans: every node sees the prefix, its ancestors, itself."""
        import torch

        length, shared = len(self.ids), self.shared
        visible = torch.zeros(length, shared + length, dtype=torch.bool)
        visible[:, :shared] = True
        for node, parent in enumerate(self.parents):  # parents come first
            if parent >= 0:
                visible[node, shared : shared + node] = visible[parent, shared : shared + node]
            visible[node, shared + node] = True
        return visible.to(device)


@dataclass
class _Row:
    """One row of a pass: a packed tree and the sequences in it."""

    tree: _PackedTree
    items: list[TokenSequence]
    originals: list[list[int]]
    """Per sequence of the row, its indices among the sequences asked for (duplicates share)."""


@dataclass
class _Pass:
    """One forward pass: its rows and the logits of the tree nodes any row needs."""

    rows: list[_Row]
    keep: list[list[int]]
    """Per row, the nodes the output layer ran at (the ones its sequences need), ascending."""
    logits: Any
    """``(variants, rows, most kept nodes of a row, vocab)``."""

    def columns(self, row: int, nodes: Sequence[int]) -> Any:
        """Indices into the logits' third dimension of row ``row``'s tree nodes ``nodes``."""
        import torch

        position = {node: index for index, node in enumerate(self.keep[row])}
        return torch.tensor([position[n] for n in nodes], device=self.logits.device)


class TokenScorer:
    """Packed forward passes of one local causal LM (a PEFT model for ``variants``)."""

    def __init__(
        self,
        model: Any,
        *,
        batch_tokens: int = 2048,
        row_tokens: int = 256,
        reuse_prefix: bool = True,
        name: str = "local",
    ) -> None:
        self.model = model
        self.batch_tokens = batch_tokens
        """Most of the sequences' own tokens (after the shared prefix) in one forward pass."""
        self.row_tokens = min(row_tokens, batch_tokens)
        """Most own tokens in one row of a pass (a longer sequence gets a row of its own)."""
        self.reuse_prefix = reuse_prefix
        self.name = name
        self._checked = False

    def logprob_sums(
        self,
        sequences: Sequence[TokenSequence],
        *,
        variants: Sequence[str] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[list[float]]:
        """Per variant (a single row without ``variants``), per sequence, the sum of
        log p(token t | the tokens before t) over its scored positions."""
        import torch

        totals = torch.zeros(len(variants) if variants else 1, len(sequences), dtype=torch.float64)
        for step in self._passes(sequences, variants, on_progress):
            log_probs = torch.log_softmax(
                step.logits.float(), dim=-1
            )  # (variants, rows, kept, vocab)
            device = log_probs.device
            for r, row in enumerate(step.rows):
                nodes, targets, owners = [], [], []
                for owner, (item, needed) in enumerate(zip(row.items, row.tree.rows, strict=True)):
                    nodes += needed
                    targets += [item.ids[t] for t in item.scored]
                    owners += [owner] * len(item.scored)
                picked = log_probs[
                    :, r, step.columns(r, nodes), torch.tensor(targets, device=device)
                ]
                sums = torch.zeros(len(totals), len(row.items), dtype=torch.float64, device=device)
                sums.index_add_(1, torch.tensor(owners, device=device), picked.double())
                for column, originals in enumerate(row.originals):
                    totals[:, originals] = sums[:, column, None].cpu()
        return totals.tolist()

    def next_token_logits(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        variants: Sequence[str] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> Iterator[tuple[list[int], Any]]:
        """Pass by pass, the logits of the token after each prompt of the pass: ``(indices,
        logits)`` with ``logits[v, i]`` the float logits under variant ``v`` (one without
        ``variants``) after prompt ``indices[i]``. Yielded pass by pass, so that a caller keeps
        only what it needs of ``prompts x vocab`` floats."""
        import torch

        for step in self._passes([TokenSequence(tuple(p)) for p in prompts], variants, on_progress):
            indices, parts = [], []
            for r, row in enumerate(step.rows):
                logits = step.logits[:, r, step.columns(r, [n[-1] for n in row.tree.rows])].float()
                index = [(i, c) for c, originals in enumerate(row.originals) for i in originals]
                indices += [i for i, _ in index]
                parts.append(logits[:, [c for _, c in index]])
            yield indices, torch.cat(parts, dim=1)

    def _passes(
        self,
        sequences: Sequence[TokenSequence],
        variants: Sequence[str] | None,
        on_progress: Callable[[int], None] | None,
    ) -> Iterator[_Pass]:
        """Every distinct sequence, packed into forward passes (see the module docstring)."""
        # Identical sequences (a dataset often repeats an answer) are computed once.
        originals: dict[TokenSequence, list[int]] = {}
        for index, item in enumerate(sequences):
            originals.setdefault(item, []).append(index)
        items = list(originals)
        if not items:
            return
        prefix = items[0].ids[: self._shared_prefix(items)] if self.reuse_prefix else ()
        self._check_packing(items[:3], prefix, variants)
        cache = self._prefix_cache(prefix, variants)
        for rows in self._packs(items, len(prefix)):
            step = self._forward(
                [_Row(_PackedTree.build(items, row, len(prefix)), [], []) for row in rows],
                variants,
                cache,
            )
            for row, indices in zip(step.rows, rows, strict=True):
                row.items = [items[i] for i in indices]
                row.originals = [originals[m] for m in row.items]
            yield step
            if on_progress is not None:
                on_progress(sum(len(o) for row in step.rows for o in row.originals))

    def _prefix_cache(self, prefix: Sequence[int], variants: Sequence[str] | None) -> Any:
        """Per layer, the keys and values of the shared prefix, one batch row per variant (None
        without a prefix)."""
        import torch
        from transformers import DynamicCache

        if not prefix:
            return None
        cache = DynamicCache()
        width = len(variants) if variants else 1
        extra = {"adapter_names": list(variants)} if variants else {}
        with torch.no_grad():
            self.model(
                input_ids=torch.tensor([list(prefix)] * width, device=self.model.device),
                use_cache=True,
                logits_to_keep=1,
                **{_cache_keyword(self.model): cache},
                **extra,
            )
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _forward(self, rows: list[_Row], variants: Sequence[str] | None, prefix: Any) -> _Pass:
        """One pass over ``rows`` (each a packed tree after the cached prefix), under every variant:
        batch row ``v * len(rows) + r`` is row r under variant v; rows are padded to the longest
        (a padding node sees only itself), and the output layer runs at each row's needed nodes."""
        import torch
        from transformers import DynamicCache

        device = self.model.device
        width, count = (len(variants) if variants else 1), len(rows)
        length = max(len(row.tree.ids) for row in rows)
        shared = rows[0].tree.shared
        ids = torch.zeros(count, length, dtype=torch.long)
        positions = torch.full((count, length), shared, dtype=torch.long)
        mask = torch.eye(length, dtype=torch.bool).repeat(count, 1, 1)  # padding: itself only
        mask = torch.cat([torch.zeros(count, length, shared, dtype=torch.bool), mask], dim=2)
        for r, row in enumerate(rows):
            nodes = len(row.tree.ids)
            ids[r, :nodes] = torch.tensor(row.tree.ids)
            positions[r, :nodes] = torch.tensor(row.tree.positions)
            mask[r, :nodes, : shared + nodes] = row.tree.mask("cpu")
        keep = [sorted({n for needed in row.tree.rows for n in needed}) for row in rows]
        most = max(len(k) for k in keep)
        # (variants x rows, most): the positions each batch row's output layer reads (padded)
        gather = torch.tensor([k + [k[0]] * (most - len(k)) for k in keep]).repeat(width, 1)
        extra: dict[str, Any] = {}
        if variants:
            extra["adapter_names"] = [v for v in variants for _ in range(count)]
        if prefix is not None:
            extra[_cache_keyword(self.model)] = DynamicCache(
                ddp_cache_data=[
                    (keys.repeat_interleave(count, 0), values.repeat_interleave(count, 0))
                    for keys, values in prefix
                ]
            )
        head = self.model.get_output_embeddings()
        gather = gather.to(device)

        def only_needed(_module: Any, args: tuple) -> tuple:
            # the output layer sees each batch row's needed positions only, not every position
            hidden = args[0]
            index = gather[:, :, None].expand(-1, -1, hidden.shape[-1])
            return (hidden.gather(1, index), *args[1:])

        # Around the pass only: a generator holding a grad mode across its yields would leave it
        # switched for its caller when two generators interleave (the unpaired scan).
        hook = head.register_forward_pre_hook(only_needed)
        try:
            with torch.no_grad():
                logits = self.model(
                    input_ids=ids.repeat(width, 1).to(device),
                    # (variants x rows, 1, nodes, prefix + nodes), True = attend
                    attention_mask=mask.repeat(width, 1, 1)[:, None].to(device),
                    position_ids=positions.repeat(width, 1).to(device),
                    use_cache=prefix is not None,
                    logits_to_keep=0,  # every position reaches the hook, which keeps the needed
                    **extra,
                ).logits
        finally:
            hook.remove()
        return _Pass(rows, keep, logits.reshape(width, count, most, -1))

    def _check_packing(
        self, items: list[TokenSequence], prefix: Sequence[int], variants: Sequence[str] | None
    ) -> None:
        """Once per scorer: a packed pass must give a plain forward pass's numbers. A model whose
        attention ignored a custom mask, explicit positions or the cached prefix would silently
        give wrong ones."""
        import torch

        if self._checked:
            return
        variant = list(variants[:1]) if variants else None
        extra = {"adapter_names": variant} if variant else {}
        # the first sequences packed as one row, and again beside it in a row of their own
        # (padded): both ways a pass is made
        trees = [list(range(len(items))), [len(items) - 1]]
        rows = [_Row(_PackedTree.build(items, tree, len(prefix)), [], []) for tree in trees]
        step = self._forward(rows, variant, self._prefix_cache(prefix, variant))
        checks = [(0, item, needed) for item, needed in zip(items, rows[0].tree.rows, strict=True)]
        checks.append((1, items[-1], rows[1].tree.rows[0]))
        for r, item, needed in checks:
            ids = torch.tensor([item.ids], device=self.model.device)
            with torch.no_grad():
                plain = self.model(input_ids=ids, **extra).logits[0, list(item.rows)]
            plain = plain.float().log_softmax(-1)
            packed = step.logits[0, r, step.columns(r, needed)].float().log_softmax(-1)
            likely = plain > -20.0  # the far tail only carries float rounding
            gap = float((plain - packed).abs()[likely].max())
            if gap > 1e-3 * max(1.0, float(plain[likely].abs().max())):
                raise BackendError(
                    f"{self.name}: packed scoring differs from a plain forward pass by {gap:.5f} "
                    "nats; this architecture does not honour a custom attention mask, position "
                    "ids and a cached prefix, so it cannot be scored here"
                )
        self._checked = True

    def _shared_prefix(self, items: list[TokenSequence]) -> int:
        """Tokens every sequence starts with, stopping at the earliest needed row (a row whose
        output is wanted must be a node of each sequence's own part)."""
        first = items[0].ids
        shared = min(item.rows[0] for item in items)
        for item in items[1:]:
            shared = min(shared, common_prefix_length(first, item.ids))
        return max(0, shared)

    def _packs(self, items: list[TokenSequence], shared: int) -> list[list[list[int]]]:
        """Indices packed in order into rows of at most ``row_tokens`` tree nodes (distinct own
        tokens after the shared prefix; at least one sequence a row), and rows into passes of at
        most ``batch_tokens`` nodes, counting each row at the size of the pass's largest (its
        padded size)."""
        rows: list[list[int]] = []
        sizes: list[int] = []
        trie: dict[tuple[int, int], int] = {}  # the current row's nodes: (parent, token) -> node
        for index, item in enumerate(items):
            own = item.ids[shared : item.rows[-1] + 1]
            parent, known = -1, 0  # how many of its nodes the current row already has
            while known < len(own) and (parent, own[known]) in trie:
                parent = trie[(parent, own[known])]
                known += 1
            new = len(own) - known
            if not rows or sizes[-1] + new > self.row_tokens:
                rows.append([])
                sizes.append(0)
                trie = {}
                new = len(own)
            rows[-1].append(index)
            sizes[-1] += new
            parent = -1
            for token in own:
                parent = trie.setdefault((parent, token), len(trie))
        passes: list[list[list[int]]] = []
        largest = 0
        for row, size in zip(rows, sizes, strict=True):
            if passes and max(largest, size) * (len(passes[-1]) + 1) <= self.batch_tokens:
                passes[-1].append(row)
                largest = max(largest, size)
            else:
                passes.append([row])
                largest = size
        return passes


def _cache_keyword(model: Any) -> str:
    """transformers 5 takes the key/value cache as ``cache``; earlier versions as ``past_key_values``."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    forward = getattr(base, "forward", base)
    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


def common_prefix_length(first: Sequence[int], second: Sequence[int]) -> int:
    """How many leading tokens two sequences share."""
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length
