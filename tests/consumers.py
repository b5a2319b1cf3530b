"""The trainers' own data code, loaded without the rest of their packages.

LLaMA-Factory and OpenRLHF pin versions of datasets, transformers and TRL that cannot sit
beside ours, and pull in GPU-only packages; their data loaders are plain Python on top of
`datasets`. `make install-dev` puts both packages' files (no dependencies) under
`.venv/consumers`, and the tests import just the loader modules from there: each
package's `__init__` is replaced by an empty package object, so only the modules named
here (and what they import) run. What runs is the trainers' own code, unchanged.
"""

import importlib
import sys
import types
from pathlib import Path

CONSUMERS = Path(sys.prefix) / "consumers"
PACKAGES = {
    "llamafactory": ("llamafactory.data", "llamafactory.extras"),
    "openrlhf": ("openrlhf.datasets", "openrlhf.utils"),
}


def consumer_module(name: str) -> types.ModuleType:
    """`consumer_module("llamafactory.data.converter")`: that module of the installed
    package, its parents as bare packages."""
    root = name.split(".")[0]
    folder = CONSUMERS / root
    if not folder.is_dir():
        raise RuntimeError(
            f"{folder} is missing: `make install-dev` installs the trainers' data code there."
        )
    for package in (root, *PACKAGES[root]):
        if package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = [str(CONSUMERS.joinpath(*package.split(".")))]
            sys.modules[package] = module
    return importlib.import_module(name)
