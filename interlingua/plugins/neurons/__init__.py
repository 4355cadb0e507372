"""Neurons family: what single neurons and modules do across languages — activations of
any module, language-specific neurons (LAPE, Tang et al. 2024), causal interventions and
the logit lens for decoders (Wendler et al. 2024)."""
