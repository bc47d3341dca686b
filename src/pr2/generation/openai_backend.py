"""Any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, `transformers serve`, OpenAI) via `openai`.

Chat prompts go to /v1/chat/completions, text and token-id prompts to /v1/completions. Requests run with bounded
concurrency; the `openai` client retries rate limits (429), server errors (5xx), timeouts and dropped connections
with exponential backoff. The API key comes from an environment variable or a key file and is never logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from pr2.errors import PR2Error
from pr2.generation.base import Completion, Prompt, SamplingParams, is_chat
from pr2.generation.finish import finish_text
from pr2.secrets import register

log = logging.getLogger(__name__)


def read_api_key(api_key_addr: str | None = None, env: str = "OPENAI_API_KEY") -> str:
    """The key from a key file (the LaMP-QA scripts' `--api_key_addr`), else the environment, else a dummy."""
    if api_key_addr:
        path = Path(api_key_addr)
        if not path.exists():
            raise PR2Error(f"API key file {api_key_addr} does not exist")
        key = path.read_text().strip()
        if not key:
            raise PR2Error(f"API key file {api_key_addr} is empty")
        return register(key)  # never printed: errors and logs redact it
    return os.environ.get(env) or "EMPTY"  # local servers accept any key


class OpenAIGenerator:
    def __init__(
        self,
        model_name: str,
        base_url: str | None,
        *,
        api_key: str = "EMPTY",
        concurrency: int = 64,  # GeneratorConfig.concurrency, the default every command uses
        timeout: float = 600.0,
        max_retries: int = 5,
        chat: bool = True,
    ) -> None:
        import openai

        self.model_name = model_name
        self.base_url = base_url
        self.concurrency = concurrency
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)
        self._openai = openai

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIGenerator(model={self.model_name!r}, base_url={self.base_url!r})"

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except self._openai.APIConnectionError as err:
            raise PR2Error(f"cannot reach the server at {self.base_url} for model {self.model_name!r}: {err}") from None
        except self._openai.APIStatusError as err:
            raise PR2Error(
                f"server at {self.base_url} refused model {self.model_name!r}: "
                f"HTTP {err.status_code} {' '.join(str(err.message).split())[:300]}"
            ) from None

    def _map(self, fn, items):
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda item: self._call(fn, item), items))

    def _request(self, prompt: Prompt, params: SamplingParams, max_tokens: int, top_logprobs: int = 0):
        common = {
            "model": self.model_name,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": max_tokens,
            "n": params.n,
        }
        if params.stop:
            common["stop"] = list(params.stop)
        if params.seed is not None:
            common["seed"] = params.seed
        if is_chat(prompt):
            if params.logprobs or top_logprobs:
                common.update(logprobs=True, top_logprobs=top_logprobs or None)
            return self._client.chat.completions.create(messages=prompt, **common)
        if params.logprobs or top_logprobs:
            common["logprobs"] = max(top_logprobs, 1)
        return self._client.completions.create(prompt=prompt, **common)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        responses = self._map(lambda p: self._request(p, params, max_tokens=params.max_tokens), prompts)
        out = []
        for prompt, response in zip(prompts, responses, strict=True):
            choices = list(response.choices)[: params.n]
            # Some servers (transformers serve, llama.cpp) ignore `n`: top up one request per missing sample,
            # each with its own seed so seeded samples still differ.
            while len(choices) < params.n:
                seed = None if params.seed is None else params.seed + len(choices)
                single = replace(params, n=1, seed=seed)
                choices.extend(self._call(self._request, prompt, single, params.max_tokens).choices)
            out.extend(self._completion(choice, params) for choice in choices)
        return out

    @staticmethod
    def _completion(choice, params: SamplingParams) -> Completion:
        text = choice.message.content if hasattr(choice, "message") else choice.text
        text = text or ""
        done = finish_text(
            text,
            server_reason=choice.finish_reason,
            stop=params.stop,
            named=getattr(choice, "stop_reason", None),  # vLLM names the stop string it dropped
        )
        logprobs = None
        lp = getattr(choice, "logprobs", None)
        if lp is not None:
            if getattr(lp, "content", None):
                logprobs = [t.logprob for t in lp.content]
            elif getattr(lp, "token_logprobs", None):
                logprobs = list(lp.token_logprobs)
        token_ids = getattr(choice, "token_ids", None)  # vLLM with return_token_ids
        if done.text == text:  # ids and logprobs describe the text only when the text was not cut here
            done.token_ids, done.logprobs = token_ids, logprobs
        return done

    def score(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        params = SamplingParams(temperature=0.0, max_tokens=1)
        responses = self._map(lambda p: self._request(p, params, max_tokens=1, top_logprobs=20), prompts)
        out = []
        for response in responses:
            choice = response.choices[0]
            top: dict[str, float] = {}
            lp = getattr(choice, "logprobs", None)
            if lp is not None and getattr(lp, "content", None):
                top = {t.token: t.logprob for t in lp.content[0].top_logprobs}
            elif lp is not None and getattr(lp, "top_logprobs", None):
                top = dict(lp.top_logprobs[0])
            if not top:
                raise PR2Error(
                    f"the server at {self.base_url} returned no log-probabilities for model "
                    f"{self.model_name!r}; use --judge-mode generate with this server"
                )
            out.append(
                {c: max((v for k, v in top.items() if k.strip() == c), default=float("-inf")) for c in candidates}
            )
        return out
