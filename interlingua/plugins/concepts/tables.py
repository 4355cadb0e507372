"""Side-by-side word tables of the top aligned (CALIGN) and overlapping (COLAP)
concepts, printed by ``interlingua calign --show N`` and ``colap --show N``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.suggest import did_you_mean


def _show_layer(res: Any, layer: str | None) -> str:
    """The layer ``--show-layer`` names (default: the last one), checked."""
    layer = layer or res.layers[-1]
    if layer not in res.results:
        raise InputError(f"--show-layer {layer!r} not among {res.layers}"
                         f"{did_you_mean(layer, res.layers)}")
    return layer


def show_calign(res: Any, n: int, layer: str | None, source: str, target: str,
                path: Path) -> None:
    """Print the ``n`` best aligned concept pairs of ``layer`` side by side.

    Parameters
    ----------
    res : MetricLayers
        CALIGN per layer (:func:`~.layer_metrics.calign_layers`).
    n : int
        Pairs shown (highest ratio first).
    layer : str, optional
        Layer label (default: the last one); ``"s->t"`` for paired layers.
    source, target : str
        The languages.
    path : Path
        The concept file (for the words of each concept).
    """
    from rich.markup import escape
    from rich.table import Table

    from interlingua.plugins.concepts.conceptfile import load_concepts
    from interlingua.registry.commands import console

    layer = _show_layer(res, layer)
    pairs = sorted(res.results[layer].details["pairs"],
                   key=lambda p: (-p["ratio"], -p["source_types"], p["source"], p["target"]))
    if not pairs:
        console.print(f"no aligned concepts in layer {layer}")
        return
    s_layer, _, t_layer = layer.partition("->")
    src = load_concepts(path, s_layer, source).concepts
    tgt = load_concepts(path, t_layer or s_layer, target).concepts
    table = Table(title=f"top aligned concepts, layer {layer} ({source} -> {target}); "
                        "bold = matched by the dictionary",
                  header_style="bold cyan", show_lines=True, title_justify="left")
    table.add_column("pair", no_wrap=True)
    table.add_column(f"{source} concept", overflow="fold")
    table.add_column(f"{target} concept", overflow="fold")

    def cell(words: set[str], matched: list[str], limit: int = 30) -> str:
        rest = sorted(words - set(matched))
        shown = [f"[bold]{escape(w)}[/bold]" for w in matched[:limit]]
        shown += [f"[dim]{escape(w)}[/dim]" for w in rest[: max(limit - len(shown), 0)]]
        more = len(words) - len(shown)
        return ", ".join(shown) + (f" … (+{more})" if more > 0 else "")

    for p in pairs[:n]:
        src_matched = [w for w, _ in p["matches"]]
        tgt_matched = list(dict.fromkeys(t for _, t in p["matches"]))
        table.add_row(f"{p['source']} -> {p['target']}\n{p['ratio']:.0%} of "
                      f"{p['source_types']} / {p['target_types']} types",
                      cell(set(src[p["source"]].types), src_matched),
                      cell(set(tgt[p["target"]].types), tgt_matched))
    console.print(table)


def show_colap(res: Any, n: int, layer: str | None, path: Path) -> None:
    """Print the ``n`` most balanced overlapping concepts of ``layer``, one column per
    language (its share and most frequent words).

    Parameters
    ----------
    res : MetricLayers
        COLAP per layer (:func:`~.layer_metrics.colap_layers`).
    n : int
        Concepts shown.
    layer : str, optional
        Layer (default: the last one).
    path : Path
        The concept file (for the words of each concept).
    """
    from collections import Counter

    from rich.markup import escape
    from rich.table import Table

    from interlingua.plugins.concepts.conceptfile import load_concepts
    from interlingua.registry.commands import console

    layer = _show_layer(res, layer)
    details = res.results[layer].details
    langs = details["languages"]
    flags = np.asarray(res.results[layer].per_unit, dtype=bool)
    ids = [c for c, f in zip(details["concept_ids"], flags) if f]
    # Most balanced first: the largest share of the second-largest language.
    ids.sort(key=lambda c: (-sorted(details["shares"][str(c)].values())[-2], c))
    run = load_concepts(path, layer, None)
    table = Table(title=f"top overlapping concepts, layer {layer}", header_style="bold cyan",
                  show_lines=True, title_justify="left")
    table.add_column("concept", no_wrap=True)
    for lang in langs:
        table.add_column(lang, overflow="fold")
    for cid in ids[:n]:
        mask = run.labels == cid
        cells = []
        for lang in langs:
            words = Counter(str(w) for w, lg in zip(run.words[mask], run.languages[mask])
                            if lg == lang)
            share = details["shares"][str(cid)][lang]
            cells.append(f"[dim]{share:.0%}[/dim] " + ", ".join(
                escape(w) for w, _ in words.most_common(20)))
        table.add_row(str(cid), *cells)
    if not ids:
        console.print(f"no overlapping concepts in layer {layer}")
    else:
        console.print(table)
