"""LayerwiseProbe as a LayerwiseResult, its JSON of earlier releases, progress reporting."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

from interlingua.core.errors import InputError
from interlingua.core.layerwise import LayerwiseResult
from interlingua.plugins.affective import pipeline
from interlingua.plugins.affective.probe_result import LayerwiseProbe
from interlingua.plugins.affective.probing import probe_layers

#: A probe result file as `interlingua probe` wrote it before LayerwiseProbe was a
#: LayerwiseResult (two languages, two layers, three neurons).
OLD_FILE = {
    "kind": "layerwise-probe", "target": "valence", "layers": ["0", "1"],
    "languages": ["en", "de"],
    "scores": {"en": [0.1, 0.9], "de": [None, 0.7]},
    "mean": [0.1, 0.8], "best_layer": "1",
    "n_rows": {"en": 40, "de": 38}, "missing": {"de": ["wort"]},
    "params": {"backend": "sklearn", "top_k": 2}, "meta": {"model": "toy", "store": "x.h5"},
    "details": {"en": {"0": {"n_test": 8}, "1": {"n_test": 8}},
                "de": {"0": {"n_test": 7}, "1": {"n_test": 7}}},
    "weights": {"en": {"0": [0.1, -0.5, 0.2], "1": [0.9, 0.0, -0.3]},
                "de": {"0": [0.0, 0.1, 0.0], "1": [-0.8, 0.05, 0.4]}},
}


def test_old_probe_files_load_and_write_back_unchanged():
    probe = LayerwiseProbe.from_dict(json.loads(json.dumps(OLD_FILE)))
    assert isinstance(probe, LayerwiseResult)
    assert probe.series == probe.languages == ["en", "de"]
    assert np.isnan(probe.scores["de"][0]) and probe.score("de", "1") == 0.7
    assert probe.top_sets(k=2) == {"en": [0, 2], "de": [0, 2]}
    assert probe.best_layer() == "1" and probe.best_layer("en") == "1"
    assert probe.to_dict() == OLD_FILE
    assert "weights" not in probe.to_dict(include_weights=False)
    assert "weights" not in probe.to_dict(full=False)
    rows = probe.rows()
    assert rows[0]["language"] == "en" and rows[0]["n_test"] == 8
    with pytest.raises(InputError, match="did you mean '1'"):
        probe.top_sets("11")


def test_pipeline_reexports_every_name():
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None


class Recorder:
    """A Progress that records what it is told."""

    def __init__(self):
        self.tasks, self.steps, self.descriptions = [], 0, []

    @contextlib.contextmanager
    def task(self, description, total=None, **fields):
        self.tasks.append((description, total))
        recorder = self

        class Task:
            def advance(self, steps=1, **fields):
                recorder.steps += steps

            def update(self, *, total=None, description=None):
                recorder.descriptions.append(description)

        yield Task()


@pytest.mark.parametrize("progress", [None, False, True, "recorder"])
def test_probe_layers_reports_through_the_progress_protocol(progress):
    rng = np.random.default_rng(0)
    data = {lang: {layer: rng.normal(size=(30, 6)) for layer in ("0", "1")}
            for lang in ("en", "de")}
    targets = {lang: rng.uniform(size=30) for lang in data}
    recorder = Recorder() if progress == "recorder" else None
    res = probe_layers(data, targets, target="v", params={"top_k": 3},
                       progress=recorder if recorder else progress)
    assert res.layers == ["0", "1"] and res.languages == ["en", "de"]
    if recorder:
        assert recorder.tasks == [("probing v", 4)] and recorder.steps == 4
        assert recorder.descriptions[-1] == "probing v: layer 1, de"
