"""Child process for the kill-and-resume tests: writes a deterministic store.

usage: python _writer.py PATH N_BATCHES [--resume] [--kill-after-data K]
Every append is committed as its own segment (segment_bytes=1). With
--kill-after-data K the process SIGKILLs itself inside the K-th append, after the
batch's segment is fully written but before it is committed (renamed).
"""

import os
import signal
import sys

import numpy as np

from interlingua.core.store import ActivationStore, SentenceRecord


def batch(i):
    rng = np.random.default_rng(i)
    records = [
        SentenceRecord([f"w{i}_{j}_{k}" for k in range(1 + (i + j) % 4)], "en" if j % 2 else "de",
                       pair_id=i * 10 + j // 2)
        for j in range(6)
    ]
    n_words = sum(len(r.words) for r in records)
    layers = {
        str(layer): {"words": rng.normal(size=(n_words, 8)).astype(np.float32),
                     "sentences": rng.normal(size=(6, 8)).astype(np.float32)}
        for layer in range(3)
    }
    return records, layers


def contents(path):
    """Every layer's rows and the sentence/word metadata of a finished store."""
    with ActivationStore.open(path) as st:
        layers = {(n, lv): st.layer(n, lv)[:] for n in st.layers for lv in st.levels(n)}
        s, w = st.sentences, st.words
        return layers, (list(s.text), list(s.lang), s.pair_id.tolist(),
                        s.word_offsets.tolist(), list(w.text), w.sentence.tolist())


def assert_same_store(a, b):
    """Two finished stores hold the same rows and metadata."""
    layers_a, meta_a = contents(a)
    layers_b, meta_b = contents(b)
    assert meta_a == meta_b and layers_a.keys() == layers_b.keys()
    for key in layers_a:
        np.testing.assert_array_equal(layers_a[key], layers_b[key])


def main():
    path, n_batches = sys.argv[1], int(sys.argv[2])
    kill_at = None
    if "--kill-after-data" in sys.argv:
        kill_at = int(sys.argv[sys.argv.index("--kill-after-data") + 1])
    if "--resume" in sys.argv:
        store = ActivationStore.resume(path)
    else:
        store = ActivationStore.create(path, model="test", extractor="test", chunk_rows=16,
                                       segment_bytes=1)
    start = store.progress // 6
    if kill_at is not None:
        original = os.replace
        calls = {"n": start}

        def replace(src, dst):
            if str(src).endswith(".h5.tmp"):
                if calls["n"] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                calls["n"] += 1
            original(src, dst)

        os.replace = replace
    for i in range(start, n_batches):
        store.append(*batch(i))
        if "--slow" in sys.argv:
            import time

            time.sleep(0.05)
    store.finalize()
    store.close()


if __name__ == "__main__":
    main()
