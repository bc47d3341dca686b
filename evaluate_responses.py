"""Evaluate responses with the LaMP-QA evaluator's command line, behaving as the benchmark's script does:

python evaluate_responses.py --evaluator_llm Qwen/Qwen2.5-32B-Instruct --inputs_addr DATA --response_addr RESP \
    --score_addr OUT [--cache_dir ./cache] [--tensor_parallel_size 1] [--max_length 32000]

Given only the benchmark's flags: vLLM's engine, the benchmark's judge protocol (lamp-qa, read from its own code:
--lamp-qa-repo PATH or a pinned download) and its defaults (--cache_dir ./cache, --max_length 32000). Any option of
`pr2 evaluate` may be added (e.g. --backend openai --base-url URL for a judge behind a server).
"""

import sys

from pr2.cli import app

BENCHMARK_DEFAULTS = {
    "--backend": "vllm",
    "--judge-mode": "generate",
    "--cache_dir": "./cache",
    "--max_length": "32000",
}


def with_benchmark_defaults(argv: list[str]) -> list[str]:
    given = {a.split("=", 1)[0].replace("-", "_").lstrip("_") for a in argv if a.startswith("--")}
    extra = []
    for flag, value in BENCHMARK_DEFAULTS.items():
        if flag.replace("-", "_").lstrip("_") not in given:
            extra += [flag, value]
    return ["evaluate", *argv, *extra]


if __name__ == "__main__":
    sys.exit(app(with_benchmark_defaults(sys.argv[1:])))
