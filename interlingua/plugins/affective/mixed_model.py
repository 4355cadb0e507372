"""Mixed-effects regression of probe performance on neuron overlap (seed 003 §7).

:func:`mixed_model` fits ``performance ~ MPO`` with a random intercept for language and
uncorrelated random intercepts and slopes for model and variable (statsmodels
``MixedLM`` with variance components; lme4's
``(1|language) + (1|model) + (0+mpo|model) + (1|variable) + (0+mpo|variable)``), and
reports the plain Pearson correlation the authors' code reports too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.result import to_jsonable
from interlingua.core.validation import check_vector


@dataclass
class MixedModelResult:
    """Fixed effect of MPO on performance from the mixed model, plus Pearson's r."""

    slope: float
    se: float
    z: float
    pvalue: float
    intercept: float
    pearson_r: float
    pearson_p: float
    n: int
    n_languages: int
    variance_components: dict[str, float]
    random_effects: list[str]
    converged: bool
    method: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of all fields."""
        return to_jsonable(self.__dict__)


def mixed_model(
    performance: Sequence[float],
    mpo: Sequence[float],
    language: Sequence[str],
    model: Sequence[str] | None = None,
    variable: Sequence[str] | None = None,
    *,
    reml: bool = True,
) -> MixedModelResult:
    """Mixed-effects regression of probe performance on MPO (seed 003 §7).

    ``performance ~ mpo`` with a random intercept for language and uncorrelated
    random intercepts and slopes (on MPO) for model and for variable. The random
    effects are crossed, so they are fitted as variance components of a single
    all-encompassing group (statsmodels ``MixedLM``; lme4's
    ``(1|language) + (1|model) + (0+mpo|model) + (1|variable) + (0+mpo|variable)``).
    Factors with one level are left out (noted). Optimisers are tried in turn
    (L-BFGS, Powell, Nelder-Mead) until one converges. The slope's standard error is
    ``(X' V^-1 X)^-1`` at the estimated variance components (as lme4's ``vcov``) and
    the test is a Wald z test (the authors' lmerTest reports t with Satterthwaite
    df; ``z`` here is the same ratio B/SE). The plain
    Pearson correlation of performance and MPO is reported too, as in the authors'
    code.

    Parameters
    ----------
    performance : sequence of float
        Probe performance (test Pearson r) per language set.
    mpo : sequence of float
        MPO (seed 003 eq. 2) of each set.
    language : sequence of str
        Language of each set (at least 3 distinct).
    model, variable : sequence of str, optional
        Model and rated variable of each set (crossed random effects).
    reml : bool
        Restricted maximum likelihood (lme4's default) or plain ML.

    Returns
    -------
    MixedModelResult
        Slope of MPO with its SE, z and p; intercept; Pearson r and p; variance
        components; optimiser and notes.

    Raises
    ------
    InputError
        Fewer than 3 languages (sets), length mismatch, non-finite values, or
        constant MPO.
    """
    perf = check_vector(performance, "performance", min_len=3)
    x = check_vector(mpo, "mpo", min_len=3)
    n = perf.size
    lang = np.asarray([str(v) for v in language], dtype=object)
    factors = {"language": lang}
    for name, values in (("model", model), ("variable", variable)):
        if values is not None:
            factors[name] = np.asarray([str(v) for v in values], dtype=object)
    for name, arr in [("mpo", x), *factors.items()]:
        if len(arr) != n:
            raise InputError(f"{name} has {len(arr)} entries but performance has {n}")
    n_lang = len(set(lang))
    if n_lang < 3:
        raise InputError(
            f"the mixed model needs sets from at least 3 languages, got {n_lang}"
        )
    if np.ptp(x) == 0:
        raise InputError("MPO is constant: its effect cannot be estimated")

    import pandas as pd
    import statsmodels.formula.api as smf
    from scipy import stats

    df = pd.DataFrame({"performance": perf, "mpo": x, "group": 0})
    vc: dict[str, str] = {}
    notes: list[str] = []
    df["language"] = factors["language"]
    vc["language"] = "0 + C(language)"
    for name in ("model", "variable"):
        if name not in factors:
            continue
        if len(set(factors[name])) < 2:
            notes.append(f"{name} has one level: its random intercept and slope are omitted")
            continue
        df[name] = factors[name]
        vc[name] = f"0 + C({name})"
        vc[f"{name}:mpo"] = f"0 + C({name}):mpo"
    md = smf.mixedlm(
        "performance ~ mpo", df, groups="group", re_formula="0", vc_formula=vc
    )
    candidates = []  # (converged, log-likelihood, method, fit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("lbfgs", "powell", "nm"):
            try:
                fit = md.fit(reml=reml, method=[method])
            except (np.linalg.LinAlgError, ValueError) as exc:
                notes.append(f"{method} failed: {exc}")
                continue
            if not np.all(np.isfinite(fit.fe_params)):
                notes.append(f"{method} gave non-finite estimates")
                continue
            candidates.append((bool(getattr(fit, "converged", False)), float(fit.llf),
                               method, fit))
            if candidates[-1][0]:
                break
    if not candidates:
        raise InputError("the mixed model could not be fitted: " + "; ".join(notes))
    converged, _, method, fit = max(candidates, key=lambda c: (c[0], c[1]))
    if not converged:
        notes.append("optimizer did not report convergence")
    # statsmodels sorts the variance-component names; take them from the model.
    names = list(md.exog_vc.names)
    vcomp = dict(zip(names, (float(v) for v in np.atleast_1d(fit.vcomp))))
    # Standard errors of the fixed effects conditional on the estimated variance
    # components, (X' V^-1 X)^-1 with V = s2 I + sum_k tau_k Z_k Z_k' (lme4's vcov).
    # statsmodels' Hessian-based errors agree on well-posed fits but explode when a
    # component sits on the boundary (zero), which small designs often produce.
    V = float(fit.scale) * np.eye(n)
    for k, name in enumerate(names):
        Z = np.asarray(md.exog_vc.mats[k][0], dtype=np.float64)
        V += vcomp[name] * (Z @ Z.T)
    X_fe = np.asarray(md.exog, dtype=np.float64)
    cov_fe = np.linalg.inv(X_fe.T @ np.linalg.solve(V, X_fe))
    slope_index = list(md.exog_names).index("mpo")
    slope = float(fit.fe_params["mpo"])
    se = float(math.sqrt(cov_fe[slope_index, slope_index]))
    z = slope / se
    p_slope = float(2 * stats.norm.sf(abs(z)))
    r, p = stats.pearsonr(perf, x)
    return MixedModelResult(
        slope=slope,
        se=se,
        z=z,
        pvalue=p_slope,
        intercept=float(fit.fe_params["Intercept"]),
        pearson_r=float(r),
        pearson_p=float(p),
        n=int(n),
        n_languages=n_lang,
        variance_components=vcomp,
        random_effects=names,
        converged=converged,
        method=method,
        notes=notes,
    )


__all__ = ["MixedModelResult", "mixed_model"]
