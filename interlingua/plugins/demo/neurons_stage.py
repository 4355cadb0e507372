"""The demo's neurons stage, beyond the seeds, on the decoder: language-specific neurons
(LAPE, Tang et al. 2024 §2), what switching them off does to each language's perplexity
(Tang et al. 2024 §3, with a random-neuron control and bootstrap CIs), and the logit lens
(Wendler et al. 2024), through the neurons family's public functions.

Verses are split so that no number is measured on the text it was selected on: LAPE
counts on the first ``neuron_verses`` verses of the sample, the ablation is evaluated on
the next ``ablation_verses``, the lens reads the first ``lens_verses``. The model is
loaded with its head once for LAPE and the ablation, then once more for the lens (never
two copies at a time). Only decoder-only models run this stage (the lens needs a causal
LM head; the offline encoder has no MLM head).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interlingua.core.progress import Progress
from interlingua.plugins.demo.config import DemoConfig
from interlingua.plugins.demo.stages import Reporter, model_slug


def _texts(rows: list[dict[str, str]], langs: list[str], lo: int, hi: int
           ) -> dict[str, list[str]]:
    return {lang: [row[lang] for row in rows[lo:hi]] for lang in langs}


def neurons_stage(cfg: DemoConfig, rows: list[dict[str, str]], out: Path, rep: Reporter,
                  progress: Progress) -> dict[str, Any]:
    """LAPE neurons, their ablation and the logit lens of ``cfg.model`` on the verses.

    Parameters
    ----------
    cfg : DemoConfig
        The run's settings, narrowed to one (decoder) model.
    rows : list of dict
        The verses, ``{language: text}`` each.
    out : Path
        Report directory (``lape-<model>.png``, ``ablation-<model>.png``,
        ``logit_lens-<model>.png``).
    rep, progress
        Tables and progress.

    Returns
    -------
    dict
        ``lape`` (neurons per language and layer, overlaps), ``ablation`` (the languages
        off × evaluated table with controls and CIs), ``lens`` (per language and layer),
        ``verses`` (the slices used), ``figures``.
    """
    from interlingua.plugins.neurons.ablation import ablate_languages
    from interlingua.plugins.neurons.activation_probability import count_activations
    from interlingua.plugins.neurons.lape import select_language_neurons
    from interlingua.plugins.neurons.lm_loss import load_loss_model
    from interlingua.plugins.neurons.logit_lens import load_lens_model, logit_lens

    langs = list(cfg.languages)
    slug = model_slug(cfg.model)
    n_lape = min(cfg.neuron_verses, max(1, len(rows) // 2))
    n_abl = min(cfg.ablation_verses, len(rows) - n_lape)
    verses = {"lape": [0, n_lape], "ablation": [n_lape, n_lape + n_abl],
              "lens": [0, min(cfg.lens_verses, len(rows))]}
    lm = load_loss_model(cfg.model, objective="causal", model_dtype=cfg.model_dtype)
    figures: dict[str, str] = {}

    rep.print(f"LAPE: counting on {n_lape} verses × {len(langs)} languages")
    counts = count_activations(lm.loaded, _texts(rows, langs, 0, n_lape),
                               batch_size=cfg.batch_size, progress=progress)
    found = select_language_neurons(counts)
    per_lang = found.n_per_language
    rep.table(f"{slug}: language-specific neurons (LAPE)", ["language", "neurons"],
              [[lang, n] for lang, n in per_lang.items()])
    figures["lape"] = found.plot(out / f"lape-{slug}.png", title=f"LAPE: {slug}").name
    lape = found.to_dict()
    lape.pop("counts", None)  # the raw counts are large and in no table
    lape.pop("neurons", None)

    rep.print(f"ablation: {len(langs)} languages off × evaluated on {n_abl} held-out verses")
    ablation = ablate_languages(lm, _texts(rows, langs, n_lape, n_lape + n_abl), found,
                                control_draws=cfg.control_draws, batch_size=cfg.batch_size,
                                seed=cfg.seed, progress=progress)
    figures["ablation"] = ablation.plot(out / f"ablation-{slug}.png",
                                        title=f"switching language neurons off: {slug}").name
    abl = ablation.to_dict()
    rep.table(f"{slug}: perplexity ratio, own language vs others (neurons off)",
              ["off", "neurons", "own", "others", "own − others CI", "control"],
              [[lang, abl["neurons"][lang]["total"], h["own_ratio"], h["others_ratio"],
                h["contrast_ci"], h["control_ratio"]] for lang, h in abl["headline"].items()])
    del lm  # one copy of the model at a time

    lo, hi = verses["lens"]
    rep.print(f"logit lens: {hi - lo} verses × {len(langs)} languages, layers "
              f"{', '.join(cfg.lens_layers or ['all'])}")
    lens_model = load_lens_model(cfg.model, model_dtype=cfg.model_dtype)
    lens = logit_lens(lens_model, _texts(rows, langs, lo, hi), layers=cfg.lens_layers,
                      batch_size=cfg.batch_size, english=langs[0] if langs[0] == "en"
                      else "en", progress=progress)
    figures["logit_lens"] = lens.plot(out / f"logit_lens-{slug}.png",
                                      title=f"logit lens: {slug}").name
    return {"lape": lape, "ablation": abl, "lens": lens.to_dict(), "verses": verses,
            "figures": figures}


__all__ = ["neurons_stage"]
