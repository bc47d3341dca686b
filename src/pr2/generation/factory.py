"""One place that turns the model flags of every command into a Generator."""

from __future__ import annotations

from dataclasses import dataclass

from pr2.errors import PR2Error
from pr2.generation.base import Generator
from pr2.generation.models import DEFAULT_MODEL, resolve_model

BACKENDS = ("hf", "openai", "vllm")


@dataclass
class GeneratorConfig:
    """Which model, served how."""

    model: str = DEFAULT_MODEL
    """A preset (smollm2, qwen, gemma, llama), a Hugging Face id or a local path."""
    backend: str = "hf"
    """hf (transformers in process), openai (an OpenAI-compatible server) or vllm (vLLM offline engine)."""
    base_url: str | None = None
    """Server URL for the openai back end, e.g. http://localhost:8000/v1."""
    api_key_addr: str | None = None
    """File holding the API key (else $OPENAI_API_KEY; local servers need none)."""
    adapter: str | None = None
    """A PEFT/LoRA adapter directory applied on top of the model (hf, vllm)."""
    device: str | None = None
    """cpu or cuda for hf (default: cuda when available)."""
    dtype: str | None = None
    """fp32, bf16 or fp16 for hf (default: bf16 on CUDA, fp32 on CPU)."""
    batch_size: int = 16
    """Prompts per forward batch (hf)."""
    concurrency: int = 64
    """Requests in flight at once (openai; `--max-concurrency`): a vLLM or SGLang server batches what it is sent at
    once, so a judge's pairs go out together rather than 8 at a time (benchmarks/judge_concurrency.py)."""
    timeout: float = 600.0
    """Seconds per request before retrying (openai)."""
    max_model_len: int | None = None
    """Context length for vLLM."""
    gpu_memory_utilization: float = 0.9
    """Share of GPU memory vLLM may take."""
    tensor_parallel_size: int = 1
    """GPUs per vLLM engine."""
    trust_remote_code: bool = False
    """Run model code from the repository (never by default)."""
    download_dir: str | None = None
    """Where model files are downloaded (hf: `cache_dir`, vllm: `download_dir`; the benchmark's `--cache_dir`)."""
    packed_weights: bool = True
    """hf, bf16 on a CPU: multiply by linear weights packed once for oneDNN (the same products; the agent loop decoded
    1.19x faster in benchmarks/agent_speed.py; generation/packed.py), at the cost of a second copy of those weights
    in memory."""


def load_generator(config: GeneratorConfig) -> Generator:
    if config.backend not in BACKENDS:
        raise PR2Error(f"unknown back end {config.backend!r}; choose from {', '.join(BACKENDS)}")
    if config.backend == "openai":
        from pr2.generation.openai_backend import OpenAIGenerator, read_api_key

        if not config.base_url:
            raise PR2Error("back end 'openai' needs --base-url (e.g. http://localhost:8000/v1)")
        # Served models are addressed by the server's name for them: no local resolution.
        return OpenAIGenerator(
            config.model,
            config.base_url,
            api_key=read_api_key(config.api_key_addr),
            concurrency=config.concurrency,
            timeout=config.timeout,
        )
    path = resolve_model(config.model)
    if config.backend == "vllm":
        from pr2.generation.vllm_backend import VLLMGenerator

        return VLLMGenerator(
            path,
            model_name=config.model,
            max_model_len=config.max_model_len,
            gpu_memory_utilization=config.gpu_memory_utilization,
            tensor_parallel_size=config.tensor_parallel_size,
            adapter=config.adapter,
            download_dir=config.download_dir,
            trust_remote_code=config.trust_remote_code,
        )
    from pr2.generation.hf import HFGenerator, load_hf_model
    from pr2.generation.packed import pack_linears

    model, tokenizer = load_hf_model(
        path,
        name=config.model,
        device=config.device,
        adapter=config.adapter,
        trust_remote_code=config.trust_remote_code,
        dtype=config.dtype,
        cache_dir=config.download_dir,
    )
    if config.packed_weights:  # bf16 on a CPU only (pack_linears checks): the same products, packed once
        pack_linears(model, rows=config.batch_size)
    return HFGenerator(model, tokenizer, model_name=config.model, batch_size=config.batch_size)
