"""Statistics of the logit lens (see :mod:`~interlingua.plugins.neurons.logit_lens`): per
batch, the lens over every predicted position, layer by layer, in bounded chunks of
logits; per language, the sums over positions; the result, its rows and its figure in
the style of Wendler et al. (2024, Fig. 1).

Memory: the (layers × positions × vocabulary) logits are never materialised; at most
:data:`CHUNK_LOGITS` floats (128 MB) of logits exist at once.

``torch`` is imported inside the functions.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.plugins.neurons.token_languages import CATEGORIES, TokenLanguages

#: Largest chunk of logits (positions × vocabulary floats) held at once.
CHUNK_LOGITS = 2**25


# -- the result --------------------------------------------------------------------------
_METRICS = ("prob", "rank_mean", "rank_median", "top1", "entropy",
            *(f"share_{c}" for c in CATEGORIES))


@dataclass
class LogitLensResult:
    """Per language and layer: the lens metrics (module docstring).

    ``stats[lang][layer]`` holds ``n`` (predicted positions), ``prob``, ``rank_mean``,
    ``rank_median``, ``top1``, ``entropy``, ``share_en`` ... ``share_unknown`` and
    ``top_tokens`` (the most frequent top-1 tokens with their shares).
    """

    model: str
    layers: list[str]
    languages: list[str]
    english: str
    stats: dict[str, dict[str, dict[str, Any]]]
    meta: dict[str, Any] = field(default_factory=dict)

    def curve(self, metric: str, lang: str) -> list[float | None]:
        """``metric`` of ``lang`` over the layers."""
        return [self.stats[lang][layer][metric] for layer in self.layers]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "layers": list(self.layers),
                "languages": list(self.languages), "english": self.english,
                "categories": list(CATEGORIES), "meta": dict(self.meta),
                "results": self.stats}

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per language and layer (for CSV): metrics and the top token."""
        out = []
        for lang in self.languages:
            for layer in self.layers:
                s = self.stats[lang][layer]
                top = s["top_tokens"][0] if s["top_tokens"] else None
                out.append({"language": lang, "layer": layer, "n": s["n"],
                            **{m: s[m] for m in _METRICS},
                            "top_token": top["token"] if top else None,
                            "top_token_share": top["share"] if top else None})
        return out

    def plot(self, path: str | os.PathLike, *, title: str | None = None,
             inputs: Iterable[str | os.PathLike | None] = (), overwrite: bool = True) -> Path:
        """See :func:`plot_logit_lens`."""
        return plot_logit_lens(self, path, title=title, inputs=inputs, overwrite=overwrite)


def plot_logit_lens(result: LogitLensResult, path: str | os.PathLike, *,
                    title: str | None = None,
                    inputs: Iterable[str | os.PathLike | None] = (),
                    overwrite: bool = True) -> Path:
    """Curves over layers in the style of Wendler et al. (2024), one per language:
    the probability of the true next token, the English share of top-1 tokens and the
    input language's share (same colour per language in the three panels).

    ``inputs`` are never written; an existing ``path`` is replaced only with
    ``overwrite`` (the library default; the command checks first).
    """
    from interlingua.core.outputs import check_outputs
    from interlingua.core.plotting import plot_layer_panels

    check_outputs([path], list(inputs), overwrite=overwrite)
    layers = result.layers

    def panel(metric: str) -> tuple[list[str], dict[str, list[float | None]]]:
        return layers, {lang: result.curve(metric, lang) for lang in result.languages}

    panels = {"p(true next token)": panel("prob"),
              f"top-1 is English ({result.english})": panel("share_en"),
              "top-1 is the input language": panel("share_lang")}
    return plot_layer_panels(panels, ylabel="probability / share of positions",
                             title=title or f"logit lens: {result.model}", path=path,
                             ylim=(0.0, 1.0))


# -- the lens ----------------------------------------------------------------------------
class _Accumulator:
    """Sums of one language's metrics over positions, per selected layer."""

    def __init__(self, n_layers: int) -> None:
        self.n = 0
        self.prob = np.zeros(n_layers)
        self.rank = np.zeros(n_layers)
        self.top1 = np.zeros(n_layers)
        self.entropy = np.zeros(n_layers)
        self.ranks: list[list[np.ndarray]] = [[] for _ in range(n_layers)]
        self.tops: list[Counter[int]] = [Counter() for _ in range(n_layers)]

    def add(self, k: int, prob: np.ndarray, rank: np.ndarray, top: np.ndarray,
            target: np.ndarray, entropy: np.ndarray) -> None:
        self.prob[k] += prob.sum()
        self.rank[k] += rank.sum()
        self.top1[k] += (top == target).sum()
        self.entropy[k] += entropy.sum()
        self.ranks[k].append(rank)
        self.tops[k].update(top.tolist())


def _tokenize(lm: Any, sentences: Sequence[str]) -> tuple[list[list[int]],
                                                                 list[list[int]], int]:
    """Token ids, special-token masks and the number of truncated sentences."""
    limit = lm.loaded.max_length
    enc = lm.tokenizer(list(sentences), add_special_tokens=True, truncation=False,
                       return_special_tokens_mask=True)
    ids, special, truncated = [], [], 0
    for seq, mask in zip(enc["input_ids"], enc["special_tokens_mask"]):
        if len(seq) > limit:
            truncated += 1
            seq, mask = seq[:limit], mask[:limit]
        ids.append(list(seq))
        special.append(list(mask))
    return ids, special, truncated


def _batch_stats(lm: Any, batch: list[list[int]], special: list[list[int]],
                 layer_idx: list[int], acc: _Accumulator) -> None:
    """One forward pass and the lens over its positions, layer by layer, in chunks."""
    import torch

    dev = lm.loaded.device
    width = max(len(s) for s in batch)
    ids = np.full((len(batch), width), lm.loaded.pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    rows, cols, targets = [], [], []
    for r, (seq, sp) in enumerate(zip(batch, special)):
        ids[r, :len(seq)] = seq
        mask[r, :len(seq)] = 1
        for t in range(len(seq) - 1):
            if not sp[t + 1]:  # special tokens are never targets
                rows.append(r)
                cols.append(t)
                targets.append(seq[t + 1])
    if not targets:
        return
    # Right padding: every sentence at positions 0..n-1, as when it runs alone.
    out = lm.base(input_ids=torch.from_numpy(ids).to(dev),
                  attention_mask=torch.from_numpy(mask).to(dev), output_hidden_states=True)
    r_t = torch.tensor(rows, device=dev)
    c_t = torch.tensor(cols, device=dev)
    tgt = torch.tensor(targets, device=dev)
    target_np = np.asarray(targets)
    n = len(targets)
    chunk = max(1, CHUNK_LOGITS // int(lm.head.weight.shape[0]))
    # Several layers share one pass over W_U when a batch has few positions (the head
    # matmul dominates the cost), never more than `chunk` rows of logits at once.
    per_pass = max(1, chunk // n)
    for g in range(0, len(layer_idx), per_pass):
        group = layer_idx[g:g + per_pass]
        x = torch.cat([lm.lens_input(lm.states(out, layer)[r_t, c_t], layer)
                       for layer in group])
        t_all = tgt.repeat(len(group))
        parts: list[list[np.ndarray]] = [[], [], [], []]
        for s in range(0, len(x), chunk):
            z = lm.head_logits(x[s:s + chunk])  # (rows, vocab) float32
            t = t_all[s:s + chunk, None]
            zt = z.gather(1, t)
            rank = (z > zt).sum(dim=-1) + 1
            top = z.argmax(dim=-1, keepdim=True)
            # One fused softmax gives the rest (elementwise exp is far slower on CPU):
            # log-sum-exp = z_max - log p_max (p_max >= 1/vocab never underflows).
            p = torch.softmax(z, dim=-1)
            lse = z.gather(1, top)[:, 0] - torch.log(p.gather(1, top)[:, 0])
            entropy = lse - torch.einsum("ij,ij->i", p, z)
            for part, value in zip(parts, (p.gather(1, t)[:, 0], rank, top[:, 0], entropy)):
                part.append(value.cpu().numpy())
            del z, p
        prob, rank, top, entropy = (np.concatenate(p) for p in parts)
        for j in range(len(group)):
            rows_j = slice(j * n, (j + 1) * n)
            acc.add(g + j, prob[rows_j].astype(np.float64), rank[rows_j].astype(np.int64),
                    top[rows_j].astype(np.int64), target_np,
                    entropy[rows_j].astype(np.float64))
    acc.n += n


def _finish(acc: _Accumulator, layer_names: list[str], lang: str, langs: TokenLanguages,
            has_english: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    n = acc.n
    for k, name in enumerate(layer_names):
        if n == 0:
            out[name] = {"n": 0, **dict.fromkeys(_METRICS), "top_tokens": []}
            continue
        shares: Counter[str] = Counter()
        for tid, count in acc.tops[k].items():
            shares[langs.category(tid, lang)] += count
        s = {"n": n, "prob": acc.prob[k] / n, "rank_mean": acc.rank[k] / n,
             "rank_median": float(np.median(np.concatenate(acc.ranks[k]))),
             "top1": acc.top1[k] / n, "entropy": acc.entropy[k] / n}
        for c in CATEGORIES:
            s[f"share_{c}"] = shares[c] / n
        if lang == langs.english:
            s["share_lang"] = s["share_en"]
        if not has_english:
            s["share_en"] = None
        s["top_tokens"] = [{"token": langs.tokenizer.decode([tid]), "id": int(tid),
                            "share": c / n, "category": langs.category(tid, lang)}
                           for tid, c in acc.tops[k].most_common(5)]
        out[name] = {key: float(v) if isinstance(v, (np.floating, float)) else v
                     for key, v in s.items()}
    return out


__all__ = ["CHUNK_LOGITS", "LogitLensResult", "plot_logit_lens"]
