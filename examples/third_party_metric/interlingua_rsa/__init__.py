"""RSA metric plugin for interlingua (an example third-party plugin package)."""

from __future__ import annotations

import numpy as np

import interlingua as il
from interlingua.core import InputError, MetricResult, Param

__version__ = "0.1.0"

#: invariances that hold for each distance (row distances are unchanged)
_INVARIANCES = {
    "euclidean": frozenset({"orthogonal", "isotropic_scaling", "translation", "permutation",
                            "row_permutation"}),
    "cosine": frozenset({"orthogonal", "isotropic_scaling", "permutation", "row_permutation"}),
    "correlation": frozenset({"isotropic_scaling", "permutation", "row_permutation"}),
}


class RSA(il.Metric):
    """Representational similarity analysis: correlation of the two spaces' RDMs."""

    name = "rsa"
    summary = "RSA: rank correlation between representational dissimilarity matrices"
    input_kind = "paired"
    symmetric = True
    higher_is_more_similar = True
    value_range = (-1.0, 1.0)
    min_rows = 4
    params = (
        Param("distance", "euclidean", "row distance for the RDMs", str,
              ("euclidean", "cosine", "correlation")),
        Param("method", "spearman", "correlation between the RDMs", str,
              ("spearman", "pearson")),
        Param("max_rows", 5000, "refuse more rows than this (RDM memory grows as n^2)", int),
    )

    @property
    def invariances(self) -> frozenset[str]:  # type: ignore[override]
        return _INVARIANCES[self.distance]

    def compute(self, X: np.ndarray, Y: np.ndarray) -> MetricResult:
        from scipy.spatial.distance import pdist
        from scipy.stats import pearsonr, spearmanr

        n = X.shape[0]
        if n > self.max_rows:
            raise InputError(
                f"rsa: {n} rows would need two RDMs of {n * (n - 1) // 2:,} distances; "
                f"subsample to at most max_rows={self.max_rows} rows or raise max_rows"
            )
        for label, M in (("X", X), ("Y", Y)):
            if self.distance in ("cosine", "correlation"):
                centred = M - M.mean(axis=1, keepdims=True) if self.distance == "correlation" \
                    else M
                if (np.linalg.norm(centred, axis=1) == 0).any():
                    raise InputError(f"rsa: {label} has a row with zero norm; the "
                                     f"{self.distance} distance is undefined for it")
        rdm_x = pdist(X, metric=self.distance)
        rdm_y = pdist(Y, metric=self.distance)
        if np.ptp(rdm_x) == 0 or np.ptp(rdm_y) == 0:
            raise InputError("rsa: all rows of one input are equally distant; the RDM is "
                             "constant and its correlation undefined")
        corr = spearmanr if self.method == "spearman" else pearsonr
        stat = corr(rdm_x, rdm_y)
        return MetricResult(value=float(stat[0]), details={"n_distances": int(rdm_x.size)})


@il.hookimpl
def register_metrics(register):
    register(RSA)


@il.hookimpl
def register_commands(cli):
    """``interlingua rsa X Y``: a command of this package, added like any built-in one."""
    import click

    from interlingua.registry.commands import (
        overwrite_option,
        param_options,
        plugin_kwargs,
        print_table,
        write_json,
    )

    @cli.command("rsa")
    @click.argument("inputs", nargs=2)
    @param_options(RSA)
    @click.option("-o", "--out", default=None, help="Also write the result as JSON.")
    @overwrite_option
    def rsa_command(inputs: tuple[str, str], out: str | None, overwrite: bool, **values):
        """RSA between two row-aligned matrices (.npy, .csv or STORE.h5:LAYER@LANG)."""
        from interlingua.core.inputs import input_paths, load_matrices
        from interlingua.core.outputs import check_outputs

        if out:  # refuse a clobbered or self-overwriting output before any work
            check_outputs([out], input_paths(list(inputs)), overwrite=overwrite)
        X, Y = load_matrices(list(inputs))
        result = RSA(**plugin_kwargs(RSA, values))(X, Y)
        print_table("rsa", ["inputs", "value", "distances"],
                    [[" vs ".join(inputs), result.value, result.details["n_distances"]]])
        if out:
            write_json(out, result.to_dict(), overwrite=overwrite,
                       inputs=input_paths(list(inputs)))
