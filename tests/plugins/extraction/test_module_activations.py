"""Module activations as layer groups of a store (``hf`` extractor, ``modules=``).

The reference runs each sentence alone (no padding) through a model loaded directly with
transformers, captures the modules with ``register_forward_hook`` on modules reached by
attribute (``model.h[i].mlp.act``, not by the extractor's name patterns), and averages
each word's token positions with its own word map: per-word tokenization for BERT,
GPT-2 and T5 (``test_hf.py``), character offsets for the Gemma-like tokenizer
(``test_hf_decoder.py``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import interlingua as il  # noqa: E402
from interlingua.core.errors import InputError, StoreError  # noqa: E402
from interlingua.core.store import ActivationStore, layer_sort_key  # noqa: E402
from interlingua.plugins.extraction.corpus import Corpus, CorpusSentence  # noqa: E402
from interlingua.plugins.extraction.models.tiny import build_tiny_model  # noqa: E402
from interlingua.plugins.extraction.module_capture import (  # noqa: E402
    ModuleCapture,
    parse_groups,
    stored_modules,
)


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(f"modact_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HF = _sibling("test_hf")
DEC = _sibling("test_hf_decoder")
SENTENCES = [s for _, s in HF.SENTENCES[:8]]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("modact")
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            built[kind] = (DEC.build_tiny_gemma(root / kind) if kind == "gemma"
                           else build_tiny_model(kind, root / kind))
        return built[kind]

    return get


def corpus(sentences=SENTENCES) -> Corpus:
    return Corpus([CorpusSentence(words=s.split(), lang="x", pair_id=i)
                   for i, s in enumerate(sentences)])


def extract(model_dir, path, **params) -> ActivationStore:
    params.setdefault("progress", False)
    ex = il.get_extractor("hf", model=str(model_dir), **params)
    return ActivationStore.open(ex.extract(corpus(), path, overwrite=True))


# -- the reference: hooks written here, word means computed here ----------------------------
def _hooked(kind: str, model):
    """{store layer: module} reached by attribute, per architecture."""
    if kind == "bert":
        return {**{f"mlp/{i}": b.intermediate.intermediate_act_fn
                   for i, b in enumerate(model.encoder.layer)},
                **{f"attn/{i}": b.attention for i, b in enumerate(model.encoder.layer)}}
    if kind == "gpt2":
        return {f"mlp/{i}": b.mlp.act for i, b in enumerate(model.h)}
    if kind == "t5":
        return {**{f"encoder/mlp/{i}": b.layer[1].DenseReluDense.act
                   for i, b in enumerate(model.encoder.block)},
                **{f"decoder/mlp/{i}": b.layer[2].DenseReluDense.act
                   for i, b in enumerate(model.decoder.block)}}
    return {**{f"mlp/{i}": b.mlp.act_fn for i, b in enumerate(model.layers)},
            **{f"attn/{i}": b.self_attn for i, b in enumerate(model.layers)}}


SPECS = {"bert": "mlp=mlp-act;attn=encoder.layer.*.attention", "gpt2": "mlp-act",
         "t5": "mlp-act", "gemma": "mlp=mlp-act;attn=layers.*.self_attn"}


def _token_words(kind, tok, words):
    """(input ids, word of each position (-1 = none), decoder shift) of one sentence."""
    if kind == "gemma":
        text = " ".join(words)
        enc = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        return enc["input_ids"], np.array(DEC.token_words(
            text, words, enc["offset_mapping"], enc["special_tokens_mask"]))
    pieces = HF._word_pieces(tok, kind, words)
    ids, start = HF._with_specials(tok, kind, [i for p in pieces for i in p])
    tw = np.full(len(ids), -1)
    pos = start
    for w, p in enumerate(pieces):
        tw[pos:pos + len(p)] = w
        pos += len(p)
    return ids, tw


def reference(kind, model_dir, agg="mean", pooling="mean"):
    """{layer: (word rows, sentence rows)} of the hooked modules, one sentence at a time."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    hooked = _hooked(kind, model)
    seen: dict[str, object] = {}
    handles = [m.register_forward_hook(
        lambda mod, args, out, _k=k: seen.__setitem__(_k, out[0] if isinstance(out, tuple)
                                                      else out))
        for k, m in hooked.items()]
    out: dict[str, tuple[list, list]] = {k: ([], []) for k in hooked}
    try:
        with torch.no_grad():
            for text in SENTENCES:
                words = text.split()
                ids, tw = _token_words(kind, tok, words)
                seen.clear()
                if kind == "t5":
                    model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor(
                        [[model.config.decoder_start_token_id, *ids]]))
                else:
                    model(input_ids=torch.tensor([ids]))
                for k in hooked:
                    states = seen[k][0].double().numpy()
                    if k.startswith("decoder/"):
                        states = states[1:]  # the start token reads no word
                    rows = []
                    for w in range(len(words)):
                        block = states[tw == w]
                        rows.append({"mean": block.mean(0), "first": block[0],
                                     "last": block[-1]}[agg])
                    rows = np.stack(rows)
                    full = seen[k][0].double().numpy()
                    sent = {"mean": rows.mean(0), "last": full[-1],
                            "mean-tokens": full.mean(0)}[pooling]
                    out[k][0].append(rows)
                    out[k][1].append(sent)
    finally:
        for h in handles:
            h.remove()
    return {k: (np.concatenate(v[0]), np.stack(v[1])) for k, v in out.items()}


# -- rows --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["bert", "gpt2", "t5", "gemma"])
def test_module_rows_equal_hooked_outputs_pooled_by_word(kind, models, tmp_path):
    for agg, pooling in [("mean", "mean"), ("last", "last")]:
        st = extract(models(kind), tmp_path / f"{agg}.h5", modules=SPECS[kind],
                     word_aggregation=agg, sentence_pooling=pooling, batch_size=3)
        ref = reference(kind, models(kind), agg, pooling)
        got = stored_modules(st)
        assert sorted(got) == sorted(ref)
        assert set(ref) <= set(st.layers)
        for name, (ref_words, ref_sents) in ref.items():
            DEC.assert_close_rel(st.layer(name)[:], ref_words, 1e-5, f"{kind} {agg} {name}")
            DEC.assert_close_rel(st.layer(name, "sentences")[:], ref_sents, 1e-5,
                                 f"{kind} {pooling} {name}")
        st.close()


def test_layer_names_modules_and_sort_order(models, tmp_path):
    st = extract(models("t5"), tmp_path / "t5.h5", modules="mlp-act", layers="0")
    assert st.layers == ["encoder/0", "encoder/mlp/0", "encoder/mlp/1",
                         "decoder/0", "decoder/mlp/0", "decoder/mlp/1"]
    assert stored_modules(st)["decoder/mlp/1"] == "decoder.block.1.layer.2.DenseReluDense.act"
    assert json.loads(st.attrs["module_groups"]) == {"mlp": "mlp-act"}
    assert st.layer("encoder/mlp/0")[:].shape[1] == 64  # d_ff, not d_model
    st.close()
    names = ["mlp/10", "2", "attn/1", "mlp/2", "0", "10", "mlp/0"]
    assert sorted(names, key=layer_sort_key) == ["0", "2", "10", "attn/1", "mlp/0", "mlp/2",
                                                 "mlp/10"]


def test_padded_batches_equal_one_sentence_at_a_time(models, tmp_path):
    for kind in ("gemma", "t5"):
        one = extract(models(kind), tmp_path / f"{kind}1.h5", modules="mlp-act",
                      batch_size=1, hidden_states=False)
        many = extract(models(kind), tmp_path / f"{kind}8.h5", modules="mlp-act",
                       batch_size=8, hidden_states=False)
        assert one.layers == many.layers and all("mlp/" in n for n in one.layers)
        for name in one.layers:
            for level in ("words", "sentences"):
                np.testing.assert_allclose(many.layer(name, level)[:], one.layer(name, level)[:],
                                           rtol=1e-5, atol=1e-5, err_msg=f"{kind} {name}")
        one.close()
        many.close()


def test_block_subset_and_module_groups_only(models, tmp_path):
    st = extract(models("gemma"), tmp_path / "sub.h5", modules="mlp=mlp-act",
                 module_layers="0,-1", hidden_states=False)
    assert st.layers == ["mlp/0", "mlp/2"]
    assert stored_modules(st) == {"mlp/0": "layers.0.mlp.act_fn", "mlp/2": "layers.2.mlp.act_fn"}
    st.close()
    for params, match in [({"module_layers": "3"}, "out of range: the model has blocks 0..2"),
                          ({"module_layers": "x"}, "invalid module layer"),
                          ({"modules": None, "module_layers": "1"}, "needs modules"),
                          ({"modules": None, "hidden_states": False}, "nothing to store")]:
        kw = {"modules": "mlp-act", **params}
        ex = il.get_extractor("hf", model=str(models("gemma")), progress=False, **kw)
        with pytest.raises(InputError, match=match) as info:
            ex.extract(corpus(), tmp_path / "bad.h5")
        assert "\n" not in str(info.value)
        assert not (tmp_path / "bad.h5").exists()


# -- refusals before any work ------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "match"), [
    ("mlp=layers.*.nothing_here", "matches no module"),
    ("layers.*.mlp.act_fn", "name the group"),
    ("encoder=mlp-act", "invalid group name"),
    ("mlp=mlp-act;mlp=layers.*.self_attn", "given twice"),
    ("a=layers.*.mlp.act_fn;b=layers.0.mlp.act_fn", "is in groups 'a' and 'b'"),
    ("p=layers.*.self_attn.*_proj", "use one group per kind of module"),
    ("q=layers.*.self_attn.q_norm", r"returned \(1, 2, \d+, 16\), not \(batch, tokens, d\)"),
])
def test_bad_modules_are_refused_before_the_store_exists(spec, match, models, tmp_path):
    ex = il.get_extractor("hf", model=str(models("gemma")), progress=False, modules=spec)
    with pytest.raises(InputError, match=match) as info:
        ex.extract(corpus(), tmp_path / "bad.h5")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "bad.h5").exists() and not list(tmp_path.iterdir())


def test_float16_refusal_still_comes_first(models, tmp_path):
    ex = il.get_extractor("hf", model=str(models("gemma")), progress=False,
                          modules="mlp-act", dtype="float16")
    with pytest.raises(InputError, match="store with dtype float32"):
        ex.extract(corpus(), tmp_path / "f16.h5")
    assert not list(tmp_path.iterdir())


def test_parse_groups_forms():
    assert parse_groups(None) == {} and parse_groups("") == {}
    assert parse_groups("mlp-act") == {"mlp": "mlp-act"}
    assert parse_groups({"ffn": ["a.*.b", "c"], "o": "x.y"}) == {"ffn": "a.*.b,c", "o": "x.y"}
    assert parse_groups(" mlp = mlp-act ; attn=layers.*.self_attn ") == {
        "mlp": "mlp-act", "attn": "layers.*.self_attn"}
    assert parse_groups(["a=x"]) == {"a": "x"}
    with pytest.raises(InputError, match="no module pattern"):
        parse_groups("a= ")


def test_a_module_running_twice_per_pass_is_refused():
    mask = torch.ones(1, 3, dtype=torch.int64)
    cap = ModuleCapture({"mlp/0": "m"}, word_aggregation="mean", sentence_pooling="mean")
    cap.start_batch([], {"": (mask, 0)})
    cap.calls["m"] = 1  # as after the first call of the pass
    with pytest.raises(InputError, match="ran more than once"):
        cap("m", torch.zeros(1, 3, 4))
    cap.start_batch([], {"": (mask, 0)})
    with pytest.raises(InputError, match="did not run"):
        cap.end_batch()


# -- streaming and resuming ---------------------------------------------------------------------
def test_resume_is_exact_and_other_modules_are_refused(models, tmp_path, monkeypatch,
                                                       interrupt_appends):
    from interlingua.core.store_writer import partial_dir
    from interlingua.plugins.extraction import hf as hf_module

    params = dict(modules="mlp-act", sort_window=3, batch_size=2, progress=False)
    full = extract(models("gpt2"), tmp_path / "full.h5", **params)
    loaded_models = []
    original_load = hf_module.load_model

    def load(*args, **kwargs):
        loaded = original_load(*args, **kwargs)
        loaded_models.append(loaded.model)
        return loaded

    monkeypatch.setattr(hf_module, "load_model", load)
    restore = interrupt_appends(2)
    ex = il.get_extractor("hf", model=str(models("gpt2")), **params)
    with pytest.raises(KeyboardInterrupt):
        ex.extract(corpus(), tmp_path / "part.h5")
    restore()
    # our hooks are gone after the interruption (transformers installs its own elsewhere)
    hooked = [m for n, m in loaded_models[-1].named_modules() if n.endswith(".mlp.act")]
    assert len(hooked) == 2 and not any(m._forward_hooks for m in hooked)
    assert partial_dir(tmp_path / "part.h5").is_dir()
    for other, what in [({"modules": "mlp=h.*.attn"}, "modules differs"),
                        ({"modules": None}, "modules differs"),
                        ({"module_layers": "0"}, "modules differs")]:
        bad = il.get_extractor("hf", model=str(models("gpt2")), **{**params, **other})
        with pytest.raises(StoreError, match=what) as info:
            bad.extract(corpus(), tmp_path / "part.h5", resume=True)
        assert "\n" not in str(info.value)
    ex.extract(corpus(), tmp_path / "part.h5", resume=True)
    assert ex.last_run_["sentences"] == len(SENTENCES) - 3
    resumed = ActivationStore.open(tmp_path / "part.h5")
    assert resumed.layers == full.layers and "mlp/1" in full.layers
    for name in full.layers:
        for level in ("words", "sentences"):
            np.testing.assert_array_equal(full.layer(name, level)[:],
                                          resumed.layer(name, level)[:])
    assert resumed.attrs["modules"] == full.attrs["modules"]
    full.close()
    resumed.close()


# -- the command line ---------------------------------------------------------------------------
def test_extract_command_with_modules(models, tmp_path, capsys):
    from interlingua.cli import main

    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(SENTENCES[:4]) + "\n", encoding="utf-8")
    assert main(["extract", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "--modules" in help_text and "--module-layers" in help_text
    assert "--no-hidden-states" in help_text and "mlp=mlp-act" in help_text
    out = tmp_path / "cli.h5"
    code = main(["extract", str(models("bert")), str(text), "--lang", "en", "-o", str(out),
                 "--modules", "mlp=mlp-act", "--module-layers", "1", "--layers", "0",
                 "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "module groups" in captured.out
    with ActivationStore.open(out) as st:
        assert st.layers == ["0", "mlp/1"]
        assert st.layer("mlp/1")[:].shape == (st.n_words, 64)
    code = main(["extract", str(models("bert")), str(text), "--lang", "en", "-o",
                 str(tmp_path / "x.h5"), "--modules", "mlp=nothing.*", "--quiet"])
    assert code != 0 and "matches no module" in capsys.readouterr().err
    code = main(["extract", str(models("bert")), str(text), "--extractor", "neurox", "-o",
                 str(tmp_path / "n.h5"), "--lang", "en", "--modules", "mlp-act"])
    assert code != 0 and "--modules" in capsys.readouterr().err
