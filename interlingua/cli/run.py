"""``interlingua run KIND:NAME INPUTS... --param k=v``: run any registered plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.inputs import input_paths, load_inputs
from interlingua.core.outputs import atomic_output, check_outputs
from interlingua.registry.commands import (
    console,
    format_value,
    overwrite_option,
    parse_json_values,
    parse_plugin_params,
    print_table,
    write_json,
)


def _split_target(target: str) -> tuple[str, str]:
    kind, sep, name = target.partition(":")
    if not sep:
        return "metric", target
    return kind, name


@click.command(context_settings={"show_default": True})
@click.argument("target")
@click.argument("inputs", nargs=-1)
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Plugin parameter (see `interlingua plugins show NAME`).")
@click.option("-a", "--arg", "call_args", multiple=True, metavar="KEY=VALUE",
              help="Extra keyword argument of the call (JSON value), e.g. background=768.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result as JSON (store path for extractors).")
@click.option("--save-transformed", type=click.Path(dir_okay=False, path_type=Path),
              help="Aligners: save transform(X) as .npy.")
@overwrite_option
def run(target: str, inputs: tuple[str, ...], params: tuple[str, ...],
        call_args: tuple[str, ...], out: Path | None, save_transformed: Path | None,
        overwrite: bool) -> None:
    """Run plugin TARGET (``metric:cka``, ``aligner:procrustes``, ``discoverer:kmeans``,
    ``extractor:hf``; a bare name means a metric) on INPUTS.

    \b
    Matrix inputs: .npy, .csv, .tsv/.txt or STORE.h5:LAYER[:LEVEL][@LANG]
    (two sentence-level specs of one store in different languages are paired by
    pair_id), e.g.
      interlingua run metric:cka acts.h5:6@en acts.h5:6@es --param debiased=true
    """
    from interlingua.registry import get_registry

    kind, name = _split_target(target)
    registry = get_registry()
    info = registry.info(kind, name)
    plugin = registry.create(kind, name, **parse_plugin_params(info.factory, params))
    kwargs = parse_json_values(call_args)
    # Outputs are checked before any input is read: an existing file needs --overwrite,
    # and an input is never written.
    write: dict[str, Any] = {"overwrite": overwrite, "inputs": input_paths(inputs)}
    if kind == "extractor":
        check_outputs([out], write["inputs"],
                      overwrite=overwrite or bool(kwargs.get("resume")))
        if overwrite:
            kwargs.setdefault("overwrite", True)
    else:
        check_outputs([out, save_transformed if kind == "aligner" else None],
                      write["inputs"], overwrite=overwrite)
    if kind == "metric":
        _run_metric(plugin, list(inputs), kwargs, out, write)
    elif kind == "aligner":
        _run_aligner(plugin, list(inputs), out, save_transformed, write)
    elif kind == "discoverer":
        _run_discoverer(plugin, list(inputs), out, write)
    else:
        _run_extractor(plugin, list(inputs), kwargs, out)


def _run_metric(metric: Any, inputs: list[str], kwargs: dict[str, Any], out: Path | None,
                write: dict[str, Any]) -> None:
    values = load_inputs(metric.input_types(), inputs)
    result = metric(*values, **kwargs)
    rows: list[tuple[str, Any]] = [("value", result.value)]
    if result.pvalue is not None:
        rows.append(("p-value", result.pvalue))
    if result.ci is not None:
        rows.append(("CI", result.ci))
    if result.per_unit is not None and result.per_unit.size:
        pu = np.asarray(result.per_unit, dtype=float)
        rows.append(("per unit", f"n={pu.size} mean={format_value(float(np.nanmean(pu)))} "
                                 f"min={format_value(float(np.nanmin(pu)))} "
                                 f"max={format_value(float(np.nanmax(pu)))}"))
    for key, value in result.details.items():
        if isinstance(value, (int, float, str, bool)) or value is None:
            rows.append((key, value))
    params = ", ".join(f"{k}={v!r}" for k, v in result.params.items())
    print_table(f"{result.metric}({params})", ["quantity", "value"], rows)
    from interlingua.registry.messages import warn_nonfinite

    warn_nonfinite(metric, {"": result})
    if out:
        write_json(out, result.to_dict(), **write)
        console.print(f"wrote {out}")


def _run_aligner(aligner: Any, inputs: list[str], out: Path | None,
                 save_transformed: Path | None, write: dict[str, Any]) -> None:
    X, Y = load_inputs(("matrix", "matrix"), inputs)
    mapped = aligner.fit(X, Y).transform(X)
    if mapped.shape != Y.shape:
        raise InputError(f"transform(X) has shape {mapped.shape}, Y has {Y.shape}")
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)

    def mean_cosine(A: np.ndarray, B: np.ndarray) -> float:
        num = (A * B).sum(axis=1)
        den = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)
        return float(np.mean(num / np.where(den == 0, 1, den)))

    summary = {
        "rows": int(X.shape[0]),
        "relative_residual": float(np.linalg.norm(mapped - Y) / np.linalg.norm(Y)),
        "mean_cosine_after": mean_cosine(mapped, Y),
        "mean_cosine_before": mean_cosine(X, Y) if X.shape == Y.shape else None,
        "fitted": {k: list(np.shape(v)) for k, v in vars(aligner).items()
                   if k.endswith("_") and not k.startswith("_")},
    }
    print_table(f"aligner {aligner.name}", ["quantity", "value"],
                [(k, v) for k, v in summary.items() if k != "fitted"])
    if save_transformed:
        with atomic_output(save_transformed, **write) as tmp, open(tmp, "wb") as fh:
            np.save(fh, mapped)  # a file object: no ".npy" appended to the name
        console.print(f"wrote {save_transformed}")
    if out:
        write_json(out, {"aligner": aligner.name, "params": aligner.get_params(), **summary},
                   **write)
        console.print(f"wrote {out}")


def _run_discoverer(discoverer: Any, inputs: list[str], out: Path | None,
                    write: dict[str, Any]) -> None:
    (X,) = load_inputs(("matrix",), inputs)
    labels = np.asarray(discoverer.fit_predict(X))
    ids, counts = np.unique(labels, return_counts=True)
    print_table(f"discoverer {discoverer.name}", ["quantity", "value"], [
        ("points", int(labels.size)), ("clusters", int(ids.size)),
        ("smallest cluster", int(counts.min())), ("largest cluster", int(counts.max())),
    ])
    if out:
        write_json(out, {"discoverer": discoverer.name, "params": discoverer.get_params(),
                         "labels": labels.tolist()}, **write)
        console.print(f"wrote {out}")


def _run_extractor(extractor: Any, inputs: list[str], kwargs: dict[str, Any],
                   out: Path | None) -> None:
    if len(inputs) != 1 or out is None:
        raise InputError("extractors take one corpus input and --out STORE.h5")
    path = extractor.extract(inputs[0], out, **kwargs)
    console.print(f"wrote {path}")
