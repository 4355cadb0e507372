"""The ``interlingua demo`` pipeline: every method of the four seed papers on an offline
multilingual model and the embedded English–Spanish Bible sample.

Steps (each a thin driver over the library; no number is computed here that a plugin
could compute):

1. **extraction** — ``builtin:multilingual-e5-small`` (the hf extractor) over the
   sentence pairs of ``examples/data/bible_en_es.tsv``, tokenised into words and
   punctuation (:func:`interlingua.plugins.affective.norms.tokenize`). The store is cached under
   ``<out>/cache/`` keyed by the settings; a rerun reuses it (an interrupted one
   resumes).
2. **similarity** (seeds 001, 002) — layer-wise ANC, linear and debiased CKA, SVCCA,
   PWCCA and sentence retrieval (cosine and CSLS P@1) between the mean-pooled English
   and Spanish verse representations
   (:func:`~interlingua.plugins.similarity.compare.compare_layers`).
3. **word translation** (seed 002 §5.1) — a dictionary induced with eflomal from the same
   parallel text (:mod:`interlingua.plugins.concepts.dictionary_induction`); word vectors = mean of
   a word type's occurrence rows at a layer; Procrustes fitted on 80 % of the 1-best
   pairs, P@1 by cosine and CSLS on the rest
   (:func:`interlingua.plugins.similarity.word_translation.evaluate_word_translation`).
4. **latent concepts** (seed 000) — k-means per layer, per language (CALIGN) and on the
   mixed data (COLAP), :mod:`interlingua.plugins.concepts.pipeline`. K is much smaller than the
   paper's 600 because the sample has ~10× fewer word types than the paper's data
   (seed 000 sizes K to give ~10 types per concept).
5. **affective neurons** (seed 003) — labMT happiness in every labMT language the
   installed norms package has. English and Spanish target words are probed in Bible
   verses (sampled contexts); for the other languages the sample has no text, so each
   word is run alone (a one-word "sentence") — stated in the report. Layer-wise elastic
   net probes, top-100 neurons per language at the best layer, super exact test, MPO and
   the mixed model (one model and one variable offline, so the model factor of seed 003
   §7 is replaced by the probed layer: the three best layers).
6. **report** — ``report.md``, ``results.json`` (all values behind every figure), one PNG
   per analysis and a *findings check* computed from the numbers.

The code lives in modules named after what they hold: :mod:`.config` (settings and the
examples' setup options), :mod:`.stages` and :mod:`.affective_stage` (the stage
runners), :mod:`.findings` (the findings check), :mod:`.report` (figures, report.md,
results.json) and :mod:`.run` (the driver). This module re-exports their public names
for ``examples/*.py`` and older callers.
"""

from __future__ import annotations

from interlingua.plugins.demo.config import (
    MODEL,
    STEPS,
    DemoConfig,
    add_setup_arguments,
    config_from_args,
    default_data_path,
    full_config,
    quick_config,
)
from interlingua.plugins.demo.findings import findings_check
from interlingua.plugins.demo.run import run_demo
from interlingua.plugins.demo.stages import SIMILARITY_METRICS

__all__ = ["MODEL", "SIMILARITY_METRICS", "STEPS", "DemoConfig", "add_setup_arguments",
           "config_from_args", "default_data_path", "findings_check", "full_config",
           "quick_config", "run_demo"]
