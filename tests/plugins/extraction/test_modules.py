"""Module patterns, the ``mlp-act`` preset per architecture (models built on the meta
device: no weights), the error for unknown architectures, and ``record``'s hooks."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")

from interlingua.core.errors import InputError  # noqa: E402
from interlingua.plugins.extraction.modules import (  # noqa: E402
    activation_like,
    compile_pattern,
    layer_labels,
    record,
    resolve_modules,
)

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2)
GATED = dict(SMALL, intermediate_size=64, num_key_value_heads=1)

#: config, expected mlp-act names (2 layers each).
ARCHITECTURES = {
    "gemma3_text": (lambda: tf.Gemma3TextConfig(**GATED, head_dim=16),
                    "layers.{i}.mlp.act_fn"),
    "gemma2": (lambda: tf.Gemma2Config(**GATED, head_dim=16), "layers.{i}.mlp.act_fn"),
    "llama": (lambda: tf.LlamaConfig(**GATED), "layers.{i}.mlp.act_fn"),
    "mistral": (lambda: tf.MistralConfig(**GATED), "layers.{i}.mlp.act_fn"),
    "qwen2": (lambda: tf.Qwen2Config(**GATED), "layers.{i}.mlp.act_fn"),
    "gpt2": (lambda: tf.GPT2Config(n_embd=32, n_layer=2, n_head=2), "h.{i}.mlp.act"),
    "bert": (lambda: tf.BertConfig(**SMALL, intermediate_size=64),
             "encoder.layer.{i}.intermediate.intermediate_act_fn"),
    "xlm-roberta": (lambda: tf.XLMRobertaConfig(**SMALL, intermediate_size=64),
                    "encoder.layer.{i}.intermediate.intermediate_act_fn"),
    "distilbert": (lambda: tf.DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64),
                   "transformer.layer.{i}.ffn.activation"),
    "bloom": (lambda: tf.BloomConfig(hidden_size=32, n_layer=2, n_head=2),
              "h.{i}.mlp.gelu_impl"),
    "opt": (lambda: tf.OPTConfig(**SMALL, ffn_dim=64, word_embed_proj_dim=32),
            "decoder.layers.{i}.activation_fn"),
    "gpt_neox": (lambda: tf.GPTNeoXConfig(**SMALL, intermediate_size=64),
                 "layers.{i}.mlp.act"),
    "phi": (lambda: tf.PhiConfig(**SMALL, intermediate_size=64),
            "layers.{i}.mlp.activation_fn"),
    "t5": (lambda: tf.T5Config(d_model=32, d_ff=64, num_layers=2, num_heads=2, d_kv=16),
           ("encoder.block.{i}.layer.1.DenseReluDense.act",
            "decoder.block.{i}.layer.2.DenseReluDense.act")),
    "mt5": (lambda: tf.MT5Config(d_model=32, d_ff=64, num_layers=2, num_heads=2, d_kv=16),
            ("encoder.block.{i}.layer.1.DenseReluDense.act",
             "decoder.block.{i}.layer.2.DenseReluDense.act")),
    "bart": (lambda: tf.BartConfig(d_model=32, encoder_layers=2, decoder_layers=2,
                                   encoder_attention_heads=2, decoder_attention_heads=2,
                                   encoder_ffn_dim=64, decoder_ffn_dim=64),
             ("encoder.layers.{i}.activation_fn", "decoder.layers.{i}.activation_fn")),
}


def meta_model(config, causal: bool = False):
    with torch.device("meta"):
        cls = tf.AutoModelForCausalLM if causal else tf.AutoModel
        return cls.from_config(config)


@pytest.mark.parametrize("kind", sorted(ARCHITECTURES))
def test_mlp_act_preset_per_architecture(kind):
    make, expected = ARCHITECTURES[kind]
    config = make()
    assert config.model_type == kind
    names = resolve_modules(meta_model(config))
    stacks = (expected,) if isinstance(expected, str) else expected
    assert names == [s.format(i=i) for s in stacks for i in range(2)]


def test_presets_match_inside_a_head_model():
    model = meta_model(tf.Gemma3TextConfig(**GATED, head_dim=16), causal=True)
    assert resolve_modules(model, "mlp-act") == ["model.layers.0.mlp.act_fn",
                                                 "model.layers.1.mlp.act_fn"]
    assert resolve_modules(model, "model.layers.*.mlp.act_fn") == \
        resolve_modules(model, ["**.mlp.act_fn"])
    assert resolve_modules(model, "model.layers.1.mlp.act_fn, model.layers.0.mlp.up_proj") == \
        ["model.layers.0.mlp.up_proj", "model.layers.1.mlp.act_fn"]  # model order


@pytest.mark.parametrize(("pattern", "name", "hit"), [
    ("layers.*.mlp.act_fn", "layers.3.mlp.act_fn", True),
    ("layers.*.mlp.act_fn", "model.layers.3.mlp.act_fn", False),  # * is one component
    ("**.layers.*.mlp.act_fn", "layers.3.mlp.act_fn", True),  # ** may be nothing
    ("**.layers.*.mlp.act_fn", "a.b.layers.3.mlp.act_fn", True),
    ("a.**.b", "a.b", True), ("a.**.b", "a.x.y.b", True), ("a.**.b", "ab", False),
    ("layers.**", "layers", True), ("**", "a.b.c", True),
    ("layers.[0-2].mlp", "layers.2.mlp", True), ("layers.[!0-2].mlp", "layers.2.mlp", False),
    ("h.?.act", "h.1.act", True), ("h.?.act", "h.11.act", False),
    ("h.1.act", "h.1.act", True), ("h.1.act", "h.1xact", False),  # dots are literal
])
def test_dotted_globs(pattern, name, hit):
    assert bool(compile_pattern(pattern).match(name)) is hit


def test_bad_pattern_is_refused():
    with pytest.raises(InputError, match="empty name component"):
        compile_pattern("layers..act")


class Mystery(torch.nn.Module):
    """An unknown architecture: activations as modules under unusual names."""

    def __init__(self, shared: bool = False):
        super().__init__()
        self.config = type("Config", (), {"model_type": "mystery"})()
        act = torch.nn.GELU()
        self.blocks = torch.nn.ModuleList()
        for _ in range(3):
            block = torch.nn.Module()
            block.up = torch.nn.Linear(4, 8)
            block.nonlin = act if shared else torch.nn.GELU()
            block.down = torch.nn.Linear(8, 4)
            self.blocks.append(block)
        self.head_activation = torch.nn.Tanh()

    def forward(self, x):
        for block in self.blocks:
            x = x + block.down(block.nonlin(block.up(x)))
        return self.head_activation(x)


def test_unknown_architecture_lists_activation_like_modules():
    model = Mystery()
    with pytest.raises(InputError) as info:
        resolve_modules(model)
    message = str(info.value)
    assert "\n" not in message
    assert "does not know this architecture" in message and "'mystery'" in message
    assert "blocks.*.nonlin (GELU, 3 modules)" in message
    assert "head_activation (Tanh, 1 module)" in message
    assert activation_like(model) == ["blocks.*.nonlin (GELU, 3 modules)",
                                      "head_activation (Tanh, 1 module)"]
    assert resolve_modules(model, "blocks.*.nonlin") == [f"blocks.{i}.nonlin" for i in range(3)]


def test_pattern_matching_nothing_lists_activation_like_modules():
    with pytest.raises(InputError, match=r"'blocks\.\*\.act' matches no module.*"
                                         r"blocks\.\*\.nonlin \(GELU"):
        resolve_modules(Mystery(), "blocks.*.act")
    with pytest.raises(InputError, match="no modules given"):
        resolve_modules(Mystery(), " , ")


def test_a_shared_module_is_refused():
    with pytest.raises(InputError, match="one shared module object"):
        resolve_modules(Mystery(shared=True), "blocks.*.nonlin")


def test_record_calls_fn_with_names_and_outputs_and_removes_hooks():
    model = Mystery()
    seen = []
    with record(model, "blocks.*.nonlin", lambda name, out: seen.append((name, out.shape))) \
            as names:
        assert names == ["blocks.0.nonlin", "blocks.1.nonlin", "blocks.2.nonlin"]
        model(torch.zeros(5, 4))
    assert seen == [(n, (5, 8)) for n in names]
    assert all(not b.nonlin._forward_hooks for b in model.blocks)
    model(torch.zeros(5, 4))
    assert len(seen) == 3  # not called any more


def test_hooks_are_removed_after_an_exception():
    model = Mystery()

    def failing(name, out):
        if name == "blocks.1.nonlin":
            raise RuntimeError("boom in a hook")

    with pytest.raises(RuntimeError, match="boom in a hook"):
        with record(model, "blocks.*.nonlin", failing):
            model(torch.zeros(2, 4))
    assert all(not b.nonlin._forward_hooks for b in model.blocks)
    with pytest.raises(KeyError):
        with record(model, "blocks.*.nonlin", lambda name, out: None):
            raise KeyError("inside the block")
    assert all(not b.nonlin._forward_hooks for b in model.blocks)


def test_a_hook_returning_a_tensor_replaces_the_output():
    model = Mystery()
    x = torch.randn(3, 4)
    with torch.no_grad():
        plain = model(x)
        with record(model, "blocks.*.nonlin", lambda name, out: torch.zeros_like(out)):
            zeroed = model(x)
        expected = x
        for block in model.blocks:
            expected = expected + block.down(torch.zeros(3, 8))
        assert torch.allclose(zeroed, torch.tanh(expected))
        assert not torch.allclose(plain, zeroed)


def test_layer_labels():
    assert layer_labels(["layers.0.mlp.act_fn", "layers.17.mlp.act_fn"]) == ["0", "17"]
    assert layer_labels(["encoder.layer.3.intermediate.intermediate_act_fn"]) == ["3"]
    assert layer_labels(["encoder.block.0.layer.1.DenseReluDense.act",
                         "decoder.block.0.layer.2.DenseReluDense.act"]) == [
        "encoder/0", "decoder/0"]
    assert layer_labels(["head_activation"]) == ["head_activation"]
