"""Old module paths keep working for one release, with a DeprecationWarning."""

import importlib
import sys

import pytest

from interlingua import _compat


@pytest.mark.parametrize("old", sorted(_compat.MOVED))
def test_old_module_path_is_an_alias_with_a_warning(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match="moved to"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(_compat.MOVED[old])
    sys.modules.pop(old, None)
