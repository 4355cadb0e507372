import json

import h5py
import numpy as np
import pytest

from interlingua.core import FormatError, StoreError
from interlingua.core.neurox_io import (
    export_neurox_hdf5,
    export_neurox_json,
    import_neurox_hdf5,
    import_neurox_json,
)
from interlingua.core.store import ActivationStore

SENTENCES = [["the", "cat", "sat"], ["a", "dog"], ["the", "cat", "sat"], ["привет", "мир", "!"]]


def _activations(seed=0, layers=3, dim=4):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(layers, len(words), dim)).astype(np.float32)
            for words in SENTENCES]


def _hand_written_hdf5(path, acts):
    """NeuroX's HDF5 layout written by hand (used when neurox is not installed)."""
    mapping = {}
    with h5py.File(path, "w") as f:
        for i, (words, a) in enumerate(zip(SENTENCES, acts)):
            f.create_dataset(str(i), data=a)
            key, count = " ".join(words), 1
            while key in mapping:
                count += 1
                key = f"{' '.join(words)} (Occurrence {count})"
            mapping[key] = str(i)
        ds = f.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype())
        ds[0] = json.dumps(mapping)


def _neurox_writer(path, acts, filetype):
    writer_module = pytest.importorskip("neurox.data.writer")
    writer = writer_module.ActivationsWriter.get_writer(str(path), filetype=filetype)
    for i, (words, a) in enumerate(zip(SENTENCES, acts)):
        writer.write_activations(i, words, a)
    writer.close()


def _check_store(path, acts, exact=True):
    with ActivationStore.open(path) as st:
        assert st.layers == ["0", "1", "2"] and st.languages == ["xx"]
        assert st.words.text.tolist() == [w for s in SENTENCES for w in s]
        for layer in range(3):
            expected = np.concatenate([a[layer] for a in acts])
            got = st.layer(str(layer))[:]
            if exact:
                np.testing.assert_array_equal(got, expected)
            else:
                np.testing.assert_allclose(got, expected, atol=1e-7)
            sent = st.layer(str(layer), "sentences")[:]
            np.testing.assert_allclose(sent[1], acts[1][layer].mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("writer", ["hand", "neurox"])
def test_import_hdf5(tmp_path, writer):
    acts = _activations()
    source = tmp_path / "acts.hdf5"
    if writer == "neurox":
        _neurox_writer(source, acts, "hdf5")
    else:
        _hand_written_hdf5(source, acts)
    out = import_neurox_hdf5(source, tmp_path / "store.h5", lang="xx", model="toy")
    _check_store(out, acts)


@pytest.mark.parametrize("writer", ["hand", "neurox"])
def test_import_json(tmp_path, writer):
    acts = _activations(1)
    source = tmp_path / "acts.json"
    if writer == "neurox":
        _neurox_writer(source, acts, "json")
    else:
        with source.open("w") as fh:
            for i, (words, a) in enumerate(zip(SENTENCES, acts)):
                features = [{"token": w, "layers": [
                    {"index": li, "values": [round(float(x), 8) for x in a[li, wi]]}
                    for li in range(a.shape[0])]} for wi, w in enumerate(words)]
                fh.write(json.dumps({"linex_index": i, "features": features}) + "\n")
    out = import_neurox_json(source, tmp_path / "store.h5", lang="xx")
    _check_store(out, acts, exact=False)


def test_export_round_trip_read_by_neurox(tmp_path):
    acts = _activations(2)
    source = tmp_path / "acts.hdf5"
    _hand_written_hdf5(source, acts)
    store_path = import_neurox_hdf5(source, tmp_path / "store.h5", lang="xx")
    with ActivationStore.open(store_path) as st:
        exported = export_neurox_hdf5(st, tmp_path / "out.hdf5")
        exported_json = export_neurox_json(st, tmp_path / "out.json")
    again = import_neurox_hdf5(exported, tmp_path / "again.h5", lang="xx")
    _check_store(again, acts)
    again_json = import_neurox_json(exported_json, tmp_path / "again_json.h5", lang="xx")
    _check_store(again_json, acts, exact=False)
    loader = pytest.importorskip("neurox.data.loader")
    loaded, n_layers = loader.load_activations(str(exported))
    assert n_layers == 3
    # NeuroX concatenates layers per token: (tokens, layers * dim).
    by_index = {int(v): k for k, v in json.loads(
        h5py.File(exported, "r")["sentence_to_index"][0]).items()}
    for position, index in enumerate(sorted(by_index, key=lambda i: list(by_index).index(i))):
        expected = np.swapaxes(acts[index], 0, 1).reshape(len(SENTENCES[index]), -1)
        np.testing.assert_array_equal(loaded[position], expected)


def test_import_errors_leave_nothing_behind(tmp_path):
    source = tmp_path / "bad.hdf5"
    acts = _activations()
    _hand_written_hdf5(source, acts)
    with h5py.File(source, "a") as f:
        del f["3"]
        f.create_dataset("3", data=np.zeros((3, 7, 4)))  # 7 tokens for a 3-word sentence
    out = tmp_path / "store.h5"
    with pytest.raises(StoreError, match="sentence 3 has 3 words but activations for 7"):
        import_neurox_hdf5(source, out, lang="xx")
    assert not out.exists() and not (tmp_path / "store.h5.partial").exists()
    not_neurox = tmp_path / "plain.h5"
    with h5py.File(not_neurox, "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(StoreError, match="not a NeuroX activation file"):
        import_neurox_hdf5(not_neurox, out, lang="xx")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"linex_index": 0, "features": []}\n{"oops": 1}\n')
    with pytest.raises(FormatError, match="bad.json:1|bad.json:2"):
        import_neurox_json(bad_json, out, lang="xx")
    assert not out.exists()


def test_layer_count_mismatch_is_a_clear_error(tmp_path):
    acts = _activations()
    acts[2] = acts[2][:2]  # sentence 2 has 2 layers, the others 3
    source = tmp_path / "mixed.hdf5"
    _hand_written_hdf5(source, acts)
    out = tmp_path / "store.h5"
    with pytest.raises(FormatError) as info:
        import_neurox_hdf5(source, out, lang="xx")
    assert str(info.value) == (
        f"{source}: sentence 2 has activations for 2 layer(s), but sentence 0 has 3; every "
        "sentence needs the same layers (was the file written by two different extractions?)"
    )
    assert not out.exists() and not (tmp_path / "store.h5.partial").exists()
    # more layers later (used to be dropped silently), and a different width
    lines = [{"linex_index": i, "features": [{"token": "w", "layers": [
        {"index": li, "values": [0.5] * dim} for li in range(layers)]}]}
        for i, (layers, dim) in enumerate([(2, 4), (3, 4)])]
    (tmp_path / "more.json").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.raises(FormatError, match=r"sentence 1 has activations for 3 layer\(s\), but "
                                          "sentence 0 has 2"):
        import_neurox_json(tmp_path / "more.json", out, lang="xx")
    lines[1]["features"][0]["layers"] = lines[1]["features"][0]["layers"][:2]
    lines[1]["features"][0]["layers"][0]["values"] = [0.5] * 5
    lines[1]["features"][0]["layers"][1]["values"] = [0.5] * 5
    (tmp_path / "wide.json").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.raises(FormatError, match="sentence 1 has 5-dimensional activations, but "
                                          "sentence 0 has 4"):
        import_neurox_json(tmp_path / "wide.json", out, lang="xx")
    assert not out.exists()


def test_truncated_hdf5_is_a_store_error(tmp_path):
    source = tmp_path / "acts.hdf5"
    _hand_written_hdf5(source, _activations())
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    out = tmp_path / "store.h5"
    with pytest.raises(StoreError) as info:
        import_neurox_hdf5(source, out, lang="xx")
    assert str(info.value) == (f"{source}: not a readable HDF5 file (truncated or corrupt); "
                               "export it from NeuroX again")
    assert not out.exists()
