"""How often each neuron is positive, per language: the container of the counts behind
LAPE (Tang et al. 2024, §2), filled by
:func:`~interlingua.plugins.neurons.activation_probability.count_activations`.

Counts are int64 (never probabilities: they merge exactly by addition, e.g. two halves of
a corpus or languages run separately) and are stored as HDF5 with a ``format``
attribute and version (no pickle); a damaged or foreign file is one
:class:`~interlingua.core.errors.StoreError` line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError, StoreError
from interlingua.core.suggest import did_you_mean
from interlingua.plugins.extraction.modules import layer_labels

#: ``format`` attribute of a counts file, and its version.
FORMAT = "interlingua-activation-counts"
FORMAT_VERSION = 1


def _integer_counts(what: str, values: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` as non-negative int64 of ``shape``, or one-line InputError."""
    arr = np.asarray(values)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise InputError(f"{what}: expected integer counts, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise InputError(f"{what}: expected shape {shape}, got {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating):
        if np.isnan(arr).any():
            raise InputError(f"{what} contain NaN; counts are whole numbers of tokens")
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise InputError(f"{what} are not whole numbers")
    arr = arr.astype(np.int64)
    if (arr < 0).any():
        raise InputError(f"{what} contain negative values")
    return arr


class ActivationCounts:
    """How often each neuron is positive, per language, and tokens per language.

    Parameters
    ----------
    languages : sequence of str
        Language codes (unique), the row order of every count array.
    modules : sequence of str
        Module names (unique), in model order; each module's outputs are its neurons.
    active : mapping or sequence of array-like
        Per module (by name, or in ``modules`` order): ``(n_languages, n_neurons)``
        integer counts of tokens with activation > 0.
    tokens : array-like
        ``(n_languages,)`` counted tokens per language (each > 0).
    sentences : array-like, optional
        ``(n_languages,)`` sentences per language (bookkeeping; default zeros).
    meta : dict, optional
        JSON-ready description of the run (model, dtype, modules spec, ...).

    Raises
    ------
    InputError
        Duplicate or missing languages/modules, a language without tokens, counts that
        are NaN, fractional, negative, of the wrong shape, or larger than the tokens.
    """

    def __init__(self, languages: Sequence[str], modules: Sequence[str],
                 active: Mapping[str, Any] | Sequence[Any], tokens: Any,
                 sentences: Any = None, meta: dict[str, Any] | None = None) -> None:
        self.languages = [str(x) for x in languages]
        self.modules = [str(m) for m in modules]
        if not self.languages:
            raise InputError("activation counts need at least one language")
        if not self.modules:
            raise InputError("activation counts need at least one module")
        for what, items in (("language", self.languages), ("module", self.modules)):
            dup = sorted({x for x in items if items.count(x) > 1})
            if dup:
                raise InputError(f"duplicate {what} {dup[0]!r} in activation counts")
        n = len(self.languages)
        self.tokens = _integer_counts("token counts", tokens, (n,))
        self.sentences = (np.zeros(n, dtype=np.int64) if sentences is None
                          else _integer_counts("sentence counts", sentences, (n,)))
        empty = [lang for lang, t in zip(self.languages, self.tokens) if t == 0]
        if empty:
            raise InputError(f"language {empty[0]!r} has no counted tokens; activation "
                             "probabilities need at least one token per language")
        if isinstance(active, Mapping):
            extra = sorted(set(active) - set(self.modules))
            if extra:
                raise InputError(f"counts for unknown module {extra[0]!r} (modules: "
                                 f"{', '.join(self.modules)})")
            missing = [m for m in self.modules if m not in active]
            if missing:
                raise InputError(f"no counts for module {missing[0]!r}")
            arrays = [active[m] for m in self.modules]
        else:
            arrays = list(active)
            if len(arrays) != len(self.modules):
                raise InputError(f"{len(arrays)} count arrays for {len(self.modules)} modules")
        self.active: dict[str, np.ndarray] = {}
        for name, values in zip(self.modules, arrays):
            arr = np.asarray(values)
            width = arr.shape[1] if arr.ndim == 2 else -1
            if width < 1:
                raise InputError(f"counts of module {name!r}: expected shape (languages, "
                                 f"neurons) = ({n}, d), got {arr.shape}")
            arr = _integer_counts(f"counts of module {name!r}", arr, (n, width))
            over = np.flatnonzero((arr > self.tokens[:, None]).any(axis=1))
            if over.size:
                raise InputError(f"counts of module {name!r} exceed the token count of "
                                 f"language {self.languages[over[0]]!r}")
            self.active[name] = arr
        self.meta: dict[str, Any] = dict(meta or {})

    # -- shape ---------------------------------------------------------------------
    @property
    def widths(self) -> list[int]:
        """Neurons per module, in module order."""
        return [self.active[m].shape[1] for m in self.modules]

    @property
    def offsets(self) -> np.ndarray:
        """Start of each module in the flat neuron numbering (plus the total at the end)."""
        return np.concatenate([[0], np.cumsum(self.widths)]).astype(np.int64)

    @property
    def n_neurons(self) -> int:
        """Neurons over all modules."""
        return int(sum(self.widths))

    @property
    def layers(self) -> list[str]:
        """Layer label of each module: its block index (``encoder/i`` / ``decoder/i`` in
        encoder–decoder models), see
        :func:`~interlingua.plugins.extraction.modules.layer_labels`."""
        return layer_labels(self.modules)

    def _module(self, module: str) -> str:
        if module not in self.active:
            hint = did_you_mean(module, self.modules)
            more = ", ..." if len(self.modules) > 4 else ""
            raise InputError(f"unknown module {module!r}{hint} (counted: "
                             f"{', '.join(self.modules[:4])}{more})")
        return module

    def locate(self, flat: Any) -> tuple[str, int]:
        """``(module, neuron index within the module)`` of a flat neuron index."""
        j = int(flat)
        if not 0 <= j < self.n_neurons:
            raise InputError(f"neuron {j} out of range 0..{self.n_neurons - 1}")
        k = int(np.searchsorted(self.offsets, j, side="right") - 1)
        return self.modules[k], j - int(self.offsets[k])

    # -- values --------------------------------------------------------------------
    def positive(self, module: str | None = None) -> np.ndarray:
        """Counts of activation > 0, ``(n_languages, n_neurons)`` int64 (all modules
        concatenated in module order when ``module`` is None)."""
        if module is not None:
            return self.active[self._module(module)]
        return np.concatenate([self.active[m] for m in self.modules], axis=1)

    def probabilities(self, module: str | None = None) -> np.ndarray:
        """``p[ℓ, j] = P(act_j > 0)`` over the tokens of language ``ℓ``: float64,
        ``(n_languages, n_neurons)`` (all modules concatenated when ``module`` is None)."""
        return self.positive(module) / self.tokens[:, None].astype(np.float64)

    # -- combining -----------------------------------------------------------------
    def merge(self, other: ActivationCounts) -> ActivationCounts:
        """Counts over both corpora: languages in ``self``'s order, then ``other``'s new
        ones; a language in both gets the sum.

        Raises
        ------
        InputError
            Different modules or neuron counts, or different models (``meta["model"]``).
        """
        if not isinstance(other, ActivationCounts):
            raise InputError(f"cannot merge activation counts with {type(other).__name__}")
        if other.modules != self.modules or other.widths != self.widths:
            raise InputError("cannot merge activation counts of different modules or "
                             "neuron counts")
        a, b = self.meta.get("model"), other.meta.get("model")
        if a and b and a != b:
            raise InputError(f"cannot merge activation counts of different models "
                             f"({a!r} and {b!r})")
        languages = self.languages + [x for x in other.languages if x not in self.languages]
        rows = {lang: i for i, lang in enumerate(languages)}
        n = len(languages)
        tokens = np.zeros(n, dtype=np.int64)
        sentences = np.zeros(n, dtype=np.int64)
        active = {m: np.zeros((n, w), dtype=np.int64) for m, w in zip(self.modules, self.widths)}
        for part in (self, other):
            idx = np.array([rows[x] for x in part.languages])
            tokens[idx] += part.tokens
            sentences[idx] += part.sentences
            for m in self.modules:
                active[m][idx] += part.active[m]
        meta = dict(self.meta)
        if other.meta.get("n_truncated") or self.meta.get("n_truncated"):
            trunc = dict(self.meta.get("n_truncated") or {})
            for lang, k in (other.meta.get("n_truncated") or {}).items():
                trunc[lang] = trunc.get(lang, 0) + k
            meta["n_truncated"] = trunc
        return ActivationCounts(languages, self.modules, active, tokens, sentences, meta)

    def __add__(self, other: ActivationCounts) -> ActivationCounts:
        return self.merge(other)

    def select(self, languages: Iterable[str]) -> ActivationCounts:
        """The counts of some languages only, in the given order."""
        wanted = [str(x) for x in languages]
        for lang in wanted:
            if lang not in self.languages:
                raise InputError(f"unknown language {lang!r}{did_you_mean(lang, self.languages)}"
                                 f" (counted: {', '.join(self.languages)})")
        idx = [self.languages.index(x) for x in wanted]
        return ActivationCounts(wanted, self.modules, {m: a[idx] for m, a in self.active.items()},
                                self.tokens[idx], self.sentences[idx], self.meta)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActivationCounts):
            return NotImplemented
        return (self.languages == other.languages and self.modules == other.modules
                and np.array_equal(self.tokens, other.tokens)
                and np.array_equal(self.sentences, other.sentences)
                and all(np.array_equal(self.active[m], other.active[m]) for m in self.modules))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"ActivationCounts({len(self.languages)} languages, {len(self.modules)} "
                f"modules, {self.n_neurons} neurons, {int(self.tokens.sum())} tokens)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no count arrays)."""
        return {"languages": self.languages, "modules": self.modules, "layers": self.layers,
                "widths": self.widths, "n_neurons": self.n_neurons,
                "tokens": dict(zip(self.languages, self.tokens.tolist())),
                "sentences": dict(zip(self.languages, self.sentences.tolist())),
                "meta": self.meta}

    # -- files ---------------------------------------------------------------------
    def to_hdf5(self, path: str | Path, *, overwrite: bool = False,
                inputs: Iterable[str | Path | None] = ()) -> Path:
        """Write the counts to an HDF5 file, atomically (no pickle).

        Layout: root attributes ``format`` (:data:`FORMAT`), ``version``,
        ``languages``, ``modules`` and ``meta`` (JSON text); datasets ``tokens`` and
        ``sentences`` ``(n_languages,)`` and ``active/<k>`` ``(n_languages, n_neurons)``
        (int64, one per module in order, attribute ``module`` = its name).

        Raises
        ------
        OutputError
            ``path`` exists (without ``overwrite``) or is one of ``inputs``.
        """
        import h5py

        from interlingua.core.outputs import atomic_output
        from interlingua.core.result import to_jsonable

        with atomic_output(path, inputs=inputs, overwrite=overwrite) as tmp:
            with h5py.File(tmp, "w") as fh:
                fh.attrs["format"] = FORMAT
                fh.attrs["version"] = FORMAT_VERSION
                fh.attrs["languages"] = json.dumps(self.languages)
                fh.attrs["modules"] = json.dumps(self.modules)
                fh.attrs["meta"] = json.dumps(to_jsonable(self.meta))
                fh.create_dataset("tokens", data=self.tokens)
                fh.create_dataset("sentences", data=self.sentences)
                group = fh.create_group("active")
                for k, name in enumerate(self.modules):
                    ds = group.create_dataset(f"{k:04d}", data=self.active[name],
                                              compression="gzip", shuffle=True)
                    ds.attrs["module"] = name
        return Path(path)

    @classmethod
    def from_hdf5(cls, path: str | Path) -> ActivationCounts:
        """Read counts written by :meth:`to_hdf5`.

        Raises
        ------
        StoreError
            Not a counts file (or a newer version), or a corrupt one.
        """
        import h5py

        from interlingua.core.h5files import open_hdf5

        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no such file")
        if not h5py.is_hdf5(path):
            raise StoreError(f"{path}: not an HDF5 file")
        with open_hdf5(path) as fh:
            if fh.attrs.get("format") != FORMAT:
                raise StoreError(f"{path}: not an activation counts file (format "
                                 f"{fh.attrs.get('format')!r}, expected {FORMAT!r})")
            version = int(fh.attrs.get("version", 0))
            if version > FORMAT_VERSION:
                raise StoreError(f"{path}: counts format version {version} is newer than "
                                 f"this interlingua reads ({FORMAT_VERSION}); upgrade")
            try:
                languages = json.loads(fh.attrs["languages"])
                modules = json.loads(fh.attrs["modules"])
                meta = json.loads(fh.attrs.get("meta", "{}"))
                tokens = fh["tokens"][()]
                sentences = fh["sentences"][()]
                group = fh["active"]
                keys = sorted(group)
                if len(keys) != len(modules):
                    raise StoreError(f"{path}: {len(keys)} count arrays for "
                                     f"{len(modules)} modules")
                active = {}
                for key, name in zip(keys, modules):
                    if group[key].attrs.get("module") != name:
                        raise StoreError(f"{path}: count array {key} is not module {name!r}")
                    active[name] = group[key][()]
            except (KeyError, ValueError, TypeError) as exc:
                raise StoreError(f"{path}: damaged activation counts file ({exc})") from None
        try:
            return cls(languages, modules, active, tokens, sentences, meta)
        except InputError as exc:
            raise StoreError(f"{path}: {exc}") from None


__all__ = ["FORMAT", "FORMAT_VERSION", "ActivationCounts"]
