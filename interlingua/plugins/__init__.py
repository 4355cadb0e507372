"""Built-in plugin packages, one per method family.

Each family is laid out like a third-party plugin package: its plugin modules (one per
method, named after it), its pipeline (the layer-wise drivers over activation stores)
and its commands (``cli.py``, added through the ``register_commands`` hook). The
registry imports the modules listed in
:data:`interlingua.registry.manager.DEFAULT_PLUGINS` and registers them through the same
hooks as an entry-point package, so module-level imports stay light (numpy, core);
torch, transformers, scikit-learn and statsmodels are imported inside functions.

========== ==================================================================
family     holds
========== ==================================================================
extraction ``hf`` and ``neurox`` extractors, word mapping, model loading, corpus
           readers, offline models (``builtin:``), ``extract``
similarity anc, cka, cca/svcca/pwcca, procrustes, retrieval, streaming moments,
           significance, word translation, layer-wise compare, ``compare``
concepts   k-means family, agglomerative, calign, colap, dictionary induction,
           the concept file, ``concepts``/``calign``/``colap``/``induce-dictionary``
affective  affective probe, super exact test, norms, overlap/MPO, mixed model,
           unseen-language test, ``probe``/``superexact``/``overlap``
demo       the main job: stages, findings check, report, ``demo`` (the only family
           that drives the others)
========== ==================================================================

Families import :mod:`interlingua.core`, :mod:`interlingua.registry` and their own
modules (the demo also other families' public names); nothing imports
:mod:`interlingua.cli`.
"""
