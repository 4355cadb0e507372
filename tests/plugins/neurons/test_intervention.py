"""Interventions on module outputs (Tang et al. 2024, §3): every edit mode against a
computation that does not use the hooks (weights edited in a deep copy, or a plain
torch hook written here), patching from another input, and the guarantees — the
weights never change and the hooks are removed, also after an exception."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("torch")
import torch

from interlingua.core.errors import InputError
from interlingua.plugins.neurons.intervention import Edit, capture, check_modules, intervene

ACT = "layers.0.mlp.act_fn"


@pytest.fixture(scope="module")
def gemma():
    """A tiny random Gemma 3 base model (2 layers, 16 MLP neurons per layer)."""
    from transformers import Gemma3TextConfig, Gemma3TextModel

    config = Gemma3TextConfig(vocab_size=50, hidden_size=16, intermediate_size=16,
                              num_hidden_layers=2, num_attention_heads=2,
                              num_key_value_heads=1, head_dim=8, query_pre_attn_scalar=8,
                              max_position_embeddings=32, sliding_window=4,
                              layer_types=["sliding_attention", "full_attention"])
    torch.manual_seed(0)
    return Gemma3TextModel(config).eval()


@pytest.fixture(scope="module")
def ids():
    torch.manual_seed(1)
    return torch.randint(3, 50, (2, 7))


def run(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).last_hidden_state


def plain_hook(model, name, fn):
    """A torch forward hook replacing ``name``'s output by ``fn(output)`` (no interlingua)."""
    module = dict(model.named_modules())[name]
    return module.register_forward_hook(lambda m, a, out: fn(out.clone()))


def test_zero_equals_the_down_projection_column_zeroed(gemma, ids):
    with intervene(gemma, Edit(ACT, [3, 11])):
        edited = run(gemma, ids)
    twin = copy.deepcopy(gemma)
    with torch.no_grad():
        twin.layers[0].mlp.down_proj.weight[:, [3, 11]] = 0
    assert torch.allclose(edited, run(twin, ids), atol=1e-6)
    assert not torch.allclose(edited, run(gemma, ids), atol=1e-3)  # the edit matters


def test_scale_equals_the_down_projection_column_scaled(gemma, ids):
    with intervene(gemma, Edit(ACT, [5], mode="scale", value=-2.5)):
        edited = run(gemma, ids)
    twin = copy.deepcopy(gemma)
    with torch.no_grad():
        twin.layers[0].mlp.down_proj.weight[:, 5] *= -2.5
    assert torch.allclose(edited, run(twin, ids), atol=1e-5)


def test_constant_and_all_neurons_against_a_plain_hook(gemma, ids):
    def constant(out):
        out[..., 7] = 0.75
        return out

    handle = plain_hook(gemma, ACT, constant)
    try:
        expected = run(gemma, ids)
    finally:
        handle.remove()
    with intervene(gemma, Edit(ACT, (7,), mode="constant", value=0.75)):
        assert torch.equal(run(gemma, ids), expected)
    with intervene(gemma, Edit(ACT, None, mode="constant", value=0.0)):
        everything = run(gemma, ids)
    twin = copy.deepcopy(gemma)
    with torch.no_grad():
        twin.layers[0].mlp.down_proj.weight.zero_()
    assert torch.allclose(everything, run(twin, ids), atol=1e-6)


def test_edits_of_one_module_apply_in_order_in_one_hook(gemma, ids):
    edits = [Edit(ACT, [2], mode="constant", value=3.0), Edit(ACT, [2, 4], mode="scale",
                                                              value=0.5),
             Edit("layers.1.mlp.act_fn", [0])]
    with intervene(gemma, edits) as names:
        assert names == [ACT, "layers.1.mlp.act_fn"]
        assert len(dict(gemma.named_modules())[ACT]._forward_hooks) == 1
        got = capture(gemma, [ACT], input_ids=ids)[ACT]
    clean = capture(gemma, ACT, input_ids=ids)[ACT]
    assert torch.all(got[..., 2] == 1.5)  # constant 3, then × 0.5
    assert torch.allclose(got[..., 4], clean[..., 4] * 0.5)
    others = [j for j in range(16) if j not in (2, 4)]
    assert torch.equal(got[..., others], clean[..., others])


def test_patch_from_another_input(gemma, ids):
    source_ids = ids.flip(1)
    source = capture(gemma, ["norm", ACT], input_ids=source_ids)
    # The final norm's output is the last hidden state: patching all of it gives the
    # source's hidden states exactly.
    with intervene(gemma, Edit("norm", None, mode="patch", source=source["norm"])):
        assert torch.equal(run(gemma, ids), run(gemma, source_ids))
    # One neuron, against a plain hook.
    def patch(out):
        out[..., 9] = source[ACT][..., 9]
        return out

    handle = plain_hook(gemma, ACT, patch)
    try:
        expected = run(gemma, ids)
    finally:
        handle.remove()
    with intervene(gemma, Edit(ACT, [9], mode="patch", source=source[ACT])):
        assert torch.equal(run(gemma, ids), expected)
    # One value per neuron (a mean activation), of the module or of the edited neurons.
    mean = source[ACT].mean(dim=(0, 1))
    with intervene(gemma, Edit(ACT, [1, 9], mode="patch", source=mean)):
        a = capture(gemma, ACT, input_ids=ids)[ACT]
    with intervene(gemma, Edit(ACT, [1, 9], mode="patch", source=mean[[1, 9]].numpy())):
        b = capture(gemma, ACT, input_ids=ids)[ACT]
    assert torch.equal(a, b) and torch.equal(a[0, 3, [1, 9]], mean[[1, 9]])


def test_patch_source_of_another_shape_is_one_clear_error(gemma, ids):
    source = capture(gemma, ACT, input_ids=ids[:, :5])[ACT]  # 5 positions, not 7
    with pytest.raises(InputError, match="same batch size and positions") as info:
        with intervene(gemma, Edit(ACT, [1], mode="patch", source=source)):
            run(gemma, ids)
    assert "\n" not in str(info.value) and "(2, 5, 16)" in str(info.value)
    with pytest.raises(InputError, match="one value per neuron"):
        with intervene(gemma, Edit(ACT, [1, 2], mode="patch", source=np.zeros(3))):
            run(gemma, ids)
    assert not dict(gemma.named_modules())[ACT]._forward_hooks


def test_weights_unchanged_and_hooks_removed_also_after_an_exception(gemma, ids):
    before = {k: v.clone() for k, v in gemma.state_dict().items()}
    clean = run(gemma, ids)
    edits = [Edit(ACT, [0, 1, 2]), Edit("layers.1.mlp.act_fn", None, mode="scale", value=3.0),
             Edit("layers.1.mlp.down_proj", [4], mode="constant", value=9.0)]
    with intervene(gemma, edits):
        assert not torch.equal(run(gemma, ids), clean)
    with pytest.raises(RuntimeError, match="boom"):
        with intervene(gemma, edits):
            run(gemma, ids)
            raise RuntimeError("boom")
    after = gemma.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not m._forward_hooks for m in gemma.modules())
    assert torch.equal(run(gemma, ids), clean)


def test_bad_edits_and_modules_are_one_line_errors(gemma, ids):
    for kwargs, needle in [({"mode": "shuffle"}, "edit mode must be one of"),
                           ({"neurons": []}, "no neurons"),
                           ({"neurons": [-1]}, "negative neuron index"),
                           ({"neurons": [1, 1]}, "duplicate"),
                           ({"mode": "patch"}, "a source is needed"),
                           ({"source": np.zeros(3)}, "a source is needed"),
                           ({"value": float("nan")}, "finite")]:
        with pytest.raises(InputError, match=needle):
            Edit(ACT, **{"neurons": [1], **kwargs})
    with pytest.raises(InputError, match=r"'layers.0.mlp.act_fm' does not exist.*did you "
                                         r"mean 'layers.0.mlp.act_fn'"):
        with intervene(gemma, Edit("layers.0.mlp.act_fm")):
            pass
    with pytest.raises(InputError, match="neuron 16 out of range"):
        with intervene(gemma, Edit(ACT, [16])):
            run(gemma, ids)
    with pytest.raises(InputError, match="not a tensor"):
        with intervene(gemma, Edit("layers.0.self_attn", [0])):  # returns a tuple
            run(gemma, ids)
    assert check_modules(gemma, [ACT, ACT, "norm"]) == [ACT, "norm"]
    assert all(not m._forward_hooks for m in gemma.modules())
    assert Edit(ACT, np.array([3, 1])).neurons == (3, 1)
