"""Model families: one module each, a spec table + a trunk + registered entry points.

`builder` is the one builder they share (`Family`, `ModelArgs`). Importing this package imports every
module beside it, so each family registers its models: a new family is one file here (and its tests);
its entry points are reachable from the top-level ``cnnzoo`` namespace and `cnnzoo.get_model` by name.
"""

import importlib
import pkgutil

FAMILIES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "builder"))
for _family in FAMILIES:
    importlib.import_module(f"{__name__}.{_family}")

__all__ = list(FAMILIES)
