"""Text generation behind one interface: transformers in process, any OpenAI-compatible server, or vLLM."""

from pr2.generation.base import Completion, Generator, Prompt, SamplingParams
from pr2.generation.factory import GeneratorConfig, load_generator
from pr2.generation.models import PRESETS, resolve_model

__all__ = [
    "PRESETS",
    "Completion",
    "Generator",
    "GeneratorConfig",
    "Prompt",
    "SamplingParams",
    "load_generator",
    "resolve_model",
]
