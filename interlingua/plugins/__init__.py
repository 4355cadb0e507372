"""Built-in plugins, one module per method.

Every public module here is imported by the registry and registered through the same
hooks third-party plugins use, so module-level imports must stay light (numpy, core);
import torch, transformers, scikit-learn, statsmodels inside functions.
"""
