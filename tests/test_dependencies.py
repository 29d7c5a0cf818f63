"""The main dependencies tell the truth: the product imports every one of them (or a library
it calls imports it on its behalf, named below); integrations and benchmarks use extras."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib

from .conftest import ROOT

# Imported not by Sourced's code but by a library it calls, for a feature Sourced uses.
ON_ITS_BEHALF = {
    "gguf": "transformers, to read the local LLM's GGUF file",
    "accelerate": "transformers, to load the converted local LLM",
    "python-multipart": "FastAPI, to parse uploads",
}


def imported_modules() -> set[str]:
    found = set()
    for path in [*(ROOT / "app").rglob("*.py"), *(ROOT / "ingest").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def test_every_main_dependency_is_imported_by_the_product():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[\[<>=!~ ]", spec, maxsplit=1)[0] for spec in project["dependencies"]]
    providers = importlib.metadata.packages_distributions()
    imported = imported_modules()
    unused = []
    for name in names:
        modules = {m for m, dists in providers.items() if name.lower() in map(str.lower, dists)}
        if not modules & imported and name not in ON_ITS_BEHALF:
            unused.append(name)
    assert not unused, f"main dependencies the product never imports: {unused}"
    extras = project["optional-dependencies"]
    assert any(spec.startswith("langchain-core") for spec in extras["langchain"])
