"""``neurox`` extractor: NeuroX's own transformers extractor, imported into a store.

Runs ``neurox.data.extraction.transformers_extractor.extract_representations``
(Dalvi et al.; the extraction used by seed 000 §3.2 and seed 003 §4.3.1) chunk by
chunk, converts each chunk's NeuroX HDF5 output with
:func:`interlingua.core.neurox_io.import_neurox_hdf5` and appends it, with the
corpus' languages, pair ids and word-in-context flags, to an
:class:`~interlingua.core.store.ActivationStore`. Sentence rows are the mean of the
word rows.

It exists for comparison with published NeuroX-based results. Prefer the ``hf``
extractor otherwise: NeuroX runs one sentence per forward pass and maps subwords to
words by re-tokenizing every word after a dummy letter, which misaligns
SentencePiece vocabularies (XLM-R, mT5) — then NeuroX's own assertion fails and the
error is reported here.

NeuroX 1.0.9 pins ancient numpy/torch; install it without dependencies:
``pip install --no-deps neurox==1.0.9 imbalanced-learn``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import tempfile
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from interlingua.core.errors import InputError, PluginError, StoreError
from interlingua.core.interfaces import Extractor
from interlingua.core.params import Param
from interlingua.core.progress import SILENT, Progress, rich_progress
from interlingua.registry import hookimpl

INSTALL_HINT = "pip install --no-deps neurox==1.0.9 imbalanced-learn"
_AGGREGATION = {"first": "first", "last": "last", "mean": "average"}


class NeuroXExtractor(Extractor):
    """Extract word activations with NeuroX's transformers extractor."""

    name: ClassVar[str] = "neurox"
    summary: ClassVar[str] = "NeuroX's transformers extractor, imported into an activation store"
    params: ClassVar[tuple[Param, ...]] = (
        Param("model", "", "local model directory or builtin:<name> (hub ids need "
              "allow_pickle, as NeuroX cannot refuse pickled weights)", str),
        Param("word_aggregation", "last", "subword -> word: first, last (NeuroX's default) "
              "or mean", str, ("first", "last", "mean")),
        Param("dtype", "float32", "storage type of word rows", str, ("float32", "float16")),
        Param("device", "cpu", "cpu or cuda", str),
        Param("chunk_size", 1000, "sentences per NeuroX run (= commit unit for resume)", int),
        Param("allow_pickle", False, "allow checkpoints with pickled (.bin) weights", bool),
        Param("lang", None, "language of a plain-text corpus", str),
        Param("corpus_format", "auto", "corpus format when a path is given", str,
              ("auto", "text", "tokens", "tsv", "csv", "jsonl", "wic")),
        Param("progress", True, "show a progress bar", bool),
    )

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            found = importlib.util.find_spec("neurox") is not None
        except (ImportError, ValueError):
            found = False
        return None if found else f"NeuroX is not installed: {INSTALL_HINT}"

    def _model_path(self) -> str:
        from interlingua.plugins.extraction.loading import check_weights
        from interlingua.plugins.extraction.models import hub_status, is_builtin, resolve_builtin

        if not self.model:
            raise InputError("no model given")
        if is_builtin(self.model):
            return str(resolve_builtin(self.model))
        local = Path(self.model).expanduser()
        if local.is_dir():
            check_weights(local, self.allow_pickle)
            return str(local)
        if local.exists():
            raise InputError(f"{local} is a file; give the model directory")
        if not self.allow_pickle:
            raise InputError(
                f"model {self.model!r} is not a local directory; NeuroX may unpickle weights "
                "downloaded from the hub, so pass allow_pickle=True (--allow-pickle) to allow it"
            )
        hub_status(self.model)  # fails at once when neither the hub nor a cached copy exists
        return self.model

    def extract(
        self,
        corpus: Any,
        output: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        discard_damaged: bool = False,
        progress: Progress | None = None,
    ) -> Path:
        """Run NeuroX over ``corpus`` and write the store ``output`` (see the module doc).

        ``resume``, ``overwrite``, ``discard_damaged`` and ``progress`` work as for the
        ``hf`` extractor (:meth:`~interlingua.plugins.extraction.hf.HFExtractor.extract`).
        """
        from interlingua.core.fingerprint import make_fingerprint, resume_checked
        from interlingua.core.locking import check_not_busy
        from interlingua.core.store import ActivationStore
        from interlingua.plugins.extraction.corpus import as_corpus
        from interlingua.plugins.extraction.hf import store_state

        reason = self.unavailable_reason()
        if reason:
            raise PluginError(reason)
        if self.chunk_size < 1:
            raise InputError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if resume and overwrite:
            raise InputError("choose either resume or overwrite, not both")
        if discard_damaged and not resume:
            raise InputError("discard_damaged (--discard-damaged) needs resume (--resume)")
        corpus = as_corpus(corpus, lang=self.lang, format=self.corpus_format)
        if any(s.source is not None for s in corpus):
            raise InputError("the neurox extractor has no sequence-to-sequence mode "
                             "(JSONL 'target'); use the hf extractor")
        output = Path(output)
        check_not_busy(output)
        state = store_state(output)
        if state != "absent" and not (resume or overwrite):
            raise StoreError(f"{output} already exists; pass overwrite=True (--overwrite) "
                             "or resume=True (--resume)")
        if resume and state == "complete":
            return output
        model_path = self._model_path()
        fields = self._fingerprint(model_path)
        if resume and state == "partial":
            store = resume_checked(output, fields, [s.text for s in corpus.sentences],
                                   discard_damaged=discard_damaged)
        else:
            store = ActivationStore.create(
                output, model=self.model, extractor=self.name,
                word_aggregation=self.word_aggregation, sentence_pooling="mean",
                dtype=self.dtype, overwrite=overwrite,
                attrs={"model_source": model_path, "neurox_version": _neurox_version(),
                       "corpus": str(corpus.path or ""), "corpus_format": corpus.format,
                       **make_fingerprint(fields)},
            )
        truncated = 0
        self.last_run_ = {"discarded_segments": [str(p) for p in store.discarded]}
        try:
            start = store.progress
            if progress is None:
                progress = rich_progress(rate=True) if self.progress else SILENT
            with progress.task("neurox", total=len(corpus)) as task, \
                    tempfile.TemporaryDirectory(prefix="interlingua-neurox-") as tmp:
                if start:
                    task.advance(start)  # committed before an interruption
                for lo in range(start, len(corpus), self.chunk_size):
                    chunk = corpus.sentences[lo : lo + self.chunk_size]
                    records, layers, cut = self._run_chunk(model_path, chunk, Path(tmp))
                    truncated += cut
                    store.append(records, layers)
                    store.flush()
                    task.advance(len(chunk))
            store.finalize(n_truncated_sentences=truncated)
        finally:
            store.close()
        if truncated:
            warnings.warn(
                f"NeuroX returned fewer words than given for {truncated} sentence(s) (too long "
                "for the model, or its subword detokenizer lost track); the missing words "
                "are not stored", stacklevel=2,
            )
        return output

    def _fingerprint(self, model_path: str) -> dict[str, Any]:
        """Everything that determines the stored rows (checked before a resume).

        NeuroX runs one sentence per forward pass, so ``chunk_size`` is not part of it.
        """
        from importlib.metadata import PackageNotFoundError, version

        from interlingua.core.fingerprint import model_identity

        def installed(name: str) -> str:
            try:
                return version(name)
            except PackageNotFoundError:
                return ""

        return {"extractor": self.name, "model": model_identity(self.model, model_path),
                "word_aggregation": self.word_aggregation, "sentence_pooling": "mean",
                "dtype": self.dtype, "device": self.device,
                "neurox_version": _neurox_version(), "torch_version": installed("torch"),
                "transformers_version": installed("transformers")}

    def _run_chunk(self, model_path: str, chunk: list, tmp: Path):
        import h5py

        from interlingua.core.neurox_io import import_neurox_hdf5
        from interlingua.core.store import ActivationStore

        try:
            from neurox.data.extraction.transformers_extractor import extract_representations
        except ImportError as exc:
            raise PluginError(f"NeuroX cannot be imported ({exc}); {INSTALL_HINT}") from None
        text_path, raw, converted = tmp / "corpus.txt", tmp / "acts.hdf5", tmp / "chunk.h5"
        for w in (w for s in chunk for w in s.words):
            if " " in w or "\n" in w:
                raise InputError(f"word {w!r} contains whitespace; NeuroX splits on spaces")
        text_path.write_text("".join(" ".join(s.words) + "\n" for s in chunk), encoding="utf-8")
        try:
            # NeuroX prints several lines per sentence; keep the terminal readable.
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                extract_representations(model_path, str(text_path), str(raw),
                                        device=self.device,
                                        aggregation=_AGGREGATION[self.word_aggregation],
                                        output_type="hdf5")
        except AssertionError as exc:
            raise PluginError(
                "NeuroX's word/subword alignment failed (its detokenizer misaligns some "
                f"tokenizers, e.g. SentencePiece); use the hf extractor ({exc})"
            ) from None
        # NeuroX drops the words of truncated sentences beyond the model's limit.
        with h5py.File(raw, "r") as f:
            kept = [int(f[str(i)].shape[1]) for i in range(len(chunk))]
        words = [s.words[:k] for s, k in zip(chunk, kept)]
        cut = sum(k < len(s.words) for s, k in zip(chunk, kept))
        import_neurox_hdf5(raw, converted, lang="und", model=self.model, sentences=words,
                           overwrite=True)
        records = []
        for s, ws in zip(chunk, words):
            rec = s.to_record()
            rec.words = list(ws)
            if rec.target >= len(ws):
                rec.target = -1
            records.append(rec)
        with ActivationStore.open(converted) as st:
            layers = {name: {"words": st.layer(name)[:],
                             "sentences": st.layer(name, "sentences")[:]}
                      for name in st.layers}
        converted.unlink()
        raw.unlink()
        for name, levels in layers.items():
            for values in levels.values():
                if not np.isfinite(values).all():
                    raise PluginError(f"NeuroX produced non-finite values in layer {name}")
        return records, layers, cut


def _neurox_version() -> str:
    try:
        from importlib.metadata import version

        return version("neurox")
    except Exception:  # metadata missing: version unknown
        return ""


@hookimpl
def register_extractors(register):
    register(NeuroXExtractor)


__all__ = ["INSTALL_HINT", "NeuroXExtractor"]
