"""The `pr2` command line: one typer app, each command a thin function over a library call.

Options accept both the paper's/benchmark's underscore spelling (`--dataset_save_directory`) and dashes.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from pr2.agent.protocol import AgentConfig
from pr2.baselines.methods import BaselineConfig
from pr2.data.fingerprint import data_digest, model_identity
from pr2.data.runs import record_source
from pr2.errors import PR2Error
from pr2.generation.factory import GeneratorConfig
from pr2.generation.models import resolve_adapter
from pr2.secrets import redact, redact_logging, redact_tracebacks

# Library chatter (weight-loading bars) hides pr2's own progress bars and one-screen summaries. Set before any
# Hugging Face library is imported, which reads it once.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

app = typer.Typer(
    help="pr2: personalized question answering with reasoning over the user's own history (PR², LaMP-QA).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., Any])


_AGENT = AgentConfig()  # the agent loop's defaults, declared once (pr2 train reads the same dataclass)
_BASELINE = BaselineConfig()  # the baselines' defaults, declared once
_CONCURRENCY = GeneratorConfig.concurrency  # requests in flight to a server, declared once


def _opt(default: Any, name: str, help: str, *extra: str) -> Any:
    """An option spelled both `--name_with_underscores` and `--name-with-dashes`."""
    names = [f"--{name}"]
    if "_" in name:
        names.append(f"--{name.replace('_', '-')}")
    elif "-" in name:
        names.append(f"--{name.replace('-', '_')}")
    return typer.Option(default, *names, *extra, help=help)


def one_line_errors(func: F) -> F:
    """Print a PR2Error as one line on stderr and exit 2, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PR2Error as err:
            message = redact(" ".join(str(err).split()))
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _print_version(value: bool) -> None:
    if value:
        from pr2 import __version__

        typer.echo(f"pr2 {__version__}")
        raise typer.Exit()


@app.callback()
def _setup(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print pr2's version and exit."
    ),
) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    redact_logging()
    redact_tracebacks()
    # Dependencies log at INFO about every model they load; only pr2's own messages go below WARNING.
    logging.getLogger("pr2").setLevel(logging.DEBUG if verbose else logging.INFO)
    if verbose:
        logging.getLogger().setLevel(logging.DEBUG)


@app.command()
@one_line_errors
def download(
    dataset_save_directory: Path = _opt(..., "dataset_save_directory", "Folder to write the dataset files into."),
    cache_dir: str | None = _opt(None, "cache_dir", "Cache folder for the `datasets` library."),
    subsets: str = _opt("ALL", "subsets", "ALL or a comma list of LaMP-QA categories."),
    splits: str = _opt("train,validation,test", "splits", "Comma list of splits."),
    source: str = _opt("alireza7/LaMP-QA", "source", "Hub dataset id, or a local folder laid out like it."),
) -> None:
    """Download LaMP-QA from the Hugging Face Hub as {category}_{split}.json plus one combined {split}.jsonl."""
    from pr2.data.lamp_qa import download as run_download

    for path in run_download(
        dataset_save_directory, cache_dir=cache_dir, subsets=subsets, splits=splits, source=source
    ):
        typer.echo(f"wrote {path}")


@app.command()
@one_line_errors
def validate(
    files: list[Path] | None = typer.Argument(
        None, help="Dataset files (.json or .jsonl); default: the bundled sample."
    ),
) -> None:
    """Check dataset files and print, per category and split, questions, profile sizes and aspects."""
    from pr2.data.io import load_questions
    from pr2.data.sample import sample_files
    from pr2.data.summary import format_summary, summarize

    if not files:
        typer.echo("validating the bundled SYNTHETIC sample")
        files = sample_files()
    questions = []
    for path in files:
        loaded = load_questions(path)
        typer.echo(f"{path}: {len(loaded)} questions, valid")
        questions.extend(loaded)
    typer.echo(format_summary(summarize(questions)))


@app.command()
@one_line_errors
def synth(
    output: Path = _opt(..., "output", "Folder for the generated benchmark (the LaMP-QA layout)."),
    users: int = _opt(300, "users", "Users (one question each), split 60/20/20 by user."),
    seed: int = _opt(0, "seed", "Generation seed."),
) -> None:
    """Generate a benchmark where one search with the question cannot find everything (fact judge: --judge-mode fact)."""
    from pr2.data.synth import SynthConfig, write_benchmark

    for path in write_benchmark(SynthConfig(users=users, seed=seed), output):
        typer.echo(f"wrote {path}")


@app.command()
@one_line_errors
def rank(
    input_dataset_addr: Path = _opt(..., "input_dataset_addr", "Dataset to rank (.json or .jsonl)."),
    output_dataset_addr: Path = _opt(
        ..., "output_dataset_addr", "Where to write it with sorted profiles (same format)."
    ),
    model_name: str = _opt("bm25", "model_name", "bm25, minilm, contriever, or a Hub id / local path of an encoder."),
    batch_size: int = _opt(32, "batch_size", "Texts per encoder batch."),
    device: str | None = _opt(None, "device", "cpu or cuda (default: cuda when available)."),
    dtype: str = _opt("fp32", "dtype", "fp32 (exact, default), bf16 or fp16."),
    trust_remote_code: bool = _opt(False, "trust-remote-code", "Allow the model's own code to run."),
    overwrite: bool = _opt(False, "overwrite", "Start over instead of resuming a killed run."),
) -> None:
    """Sort each question's profile by relevance to its question (resumes a killed run)."""
    from pr2.retrieval import load_retriever
    from pr2.retrieval.rank import rank_file

    retriever = load_retriever(
        model_name, device=device, batch_size=batch_size, dtype=dtype, trust_remote_code=trust_remote_code
    )
    summary = rank_file(
        input_dataset_addr, output_dataset_addr, retriever, identity={"dtype": dtype}, overwrite=overwrite
    )
    typer.echo(
        f"ranked {summary.questions} questions ({summary.resumed} resumed) with {model_name}: "
        f"{summary.documents} documents in {summary.seconds:.1f}s -> {output_dataset_addr}"
    )


def _judge_options(
    evaluator: str,
    mode: str | None,
    backend: str,
    base_url: str | None,
    api_key_addr: str | None,
    judge_prompt: str | None,
    truncate_response: int | None,
    cache: str | None,
    trust_remote_code: bool = False,
    *,
    protocol: str = "lamp-qa",
    lamp_qa_repo: str | None = None,
    max_model_len: int | None = None,
    tensor_parallel_size: int = 1,
    download_dir: str | None = None,
    concurrency: int = _CONCURRENCY,
    retry_cap: int | None = None,
    max_new_tokens: int | None = None,
):
    from pr2.judge import JudgeConfig, build_judge

    if mode is None:
        mode = "embedding" if evaluator in ("minilm", "embedding") else "generate"
    config = JudgeConfig(
        model=evaluator,
        mode=mode,
        protocol=protocol,
        lamp_qa_repo=lamp_qa_repo,
        prompt_file=judge_prompt,
        max_length=truncate_response,
        cache_path=cache,
        **({"retry_cap": retry_cap} if retry_cap is not None else {}),
        max_tokens=max_new_tokens,
    )
    return build_judge(
        config,
        backend=backend,
        base_url=base_url,
        api_key_addr=api_key_addr,
        trust_remote_code=trust_remote_code,
        max_model_len=max_model_len,
        tensor_parallel_size=tensor_parallel_size,
        download_dir=download_dir,
        concurrency=concurrency,
    )


@app.command()
@one_line_errors
def evaluate(
    evaluator_llm: str = _opt(
        "minilm", "evaluator_llm", "Judge model (preset, Hub id, path, served name; minilm = proxy)."
    ),
    inputs_addr: Path = _opt(..., "inputs_addr", "The dataset the responses answer."),
    response_addr: Path = _opt(..., "response_addr", 'Responses: {id: [{"output": text}]}.'),
    score_addr: Path = _opt(..., "score_addr", "Where to write the scores (JSON)."),
    judge_mode: str | None = _opt(
        None,
        "judge-mode",
        "generate, logprob, embedding, or fact (a pr2 synth benchmark's checker) (default: embedding for minilm, else generate).",
    ),
    judge_protocol: str = _opt(
        "lamp-qa", "judge-protocol", "lamp-qa (the benchmark's judge, read from its code) or pr2 (pr2's own prompt)."
    ),
    lamp_qa_repo: str | None = _opt(
        None, "lamp-qa-repo", "Checkout of the LaMP-QA repository (else $LAMP_QA_REPO, else a pinned download)."
    ),
    backend: str = _opt("hf", "backend", "hf, openai or vllm for an LLM judge."),
    base_url: str | None = _opt(None, "base-url", "OpenAI-compatible server URL for --backend openai."),
    api_key_addr: str | None = _opt(None, "api_key_addr", "File with the API key."),
    judge_prompt: str | None = _opt(
        None,
        "judge-prompt",
        "pr2 protocol: a prompt with {question} {details} {response} {aspect} {reason} {evidence}.",
    ),
    max_length: int | None = _opt(None, "max_length", "The judge's context length (vLLM max_model_len)."),
    cache_dir: str | None = _opt(None, "cache_dir", "Where the judge model is downloaded (the benchmark's flag)."),
    tensor_parallel_size: int = _opt(1, "tensor_parallel_size", "GPUs for the vLLM judge engine."),
    truncate_response: int | None = _opt(
        None, "truncate-response", "Cut each response to this many judge tokens first (not the benchmark's)."
    ),
    cache: str | None = _opt(None, "cache", "Judgement cache (JSONL; default: SCORE_ADDR.judge-cache.jsonl)."),
    retry_cap: int | None = _opt(
        None, "retry-cap", "generate: retry rounds before an unreadable pair scores 0 (the benchmark's: 100)."
    ),
    max_new_tokens: int | None = _opt(
        None, "max-new-tokens", "generate: tokens the judge may write (the protocol's: lamp-qa 4096, pr2 256)."
    ),
    max_concurrency: int = _opt(
        _CONCURRENCY, "max-concurrency", "Requests in flight at once to a judge server (openai)."
    ),
    allow_missing: bool = _opt(False, "allow-missing", "Score questions without a response as 0."),
    trust_remote_code: bool = _opt(False, "trust-remote-code", "Allow the judge model's own code to run."),
    overwrite: bool = _opt(False, "overwrite", "Start over: remove the judgement cache and the scores file first."),
) -> None:
    """Score responses with the LaMP-QA rubric judge: per question, per category and the macro average."""
    from pr2.data.io import load_questions
    from pr2.judge.evaluate import evaluate_file, summary_lines
    from pr2.judge.responses import load_responses

    # Check both files before loading a judge model: bad input fails in a second, not after a model load.
    load_responses(response_addr, [q.id for q in load_questions(inputs_addr)], allow_missing=allow_missing)
    cache = cache or f"{score_addr}.judge-cache.jsonl"
    if overwrite:
        Path(cache).unlink(missing_ok=True)
        Path(score_addr).unlink(missing_ok=True)
    judge = _judge_options(
        evaluator_llm,
        judge_mode,
        backend,
        base_url,
        api_key_addr,
        judge_prompt,
        truncate_response,
        cache,
        trust_remote_code,
        protocol=judge_protocol,
        lamp_qa_repo=lamp_qa_repo,
        max_model_len=max_length,
        tensor_parallel_size=tensor_parallel_size,
        download_dir=cache_dir,
        concurrency=max_concurrency,
        retry_cap=retry_cap,
        max_new_tokens=max_new_tokens,
    )
    report = evaluate_file(inputs_addr, response_addr, score_addr, judge, allow_missing=allow_missing)
    for line in summary_lines(report):
        typer.echo(line)
    typer.echo(f"wrote {score_addr}")


@app.command()
@one_line_errors
def report(
    paths: list[str] = typer.Argument(..., help="Scores files (one row each), or: train RUN_DIR."),
    output: str = _opt("report", "output", "Output prefix: writes OUTPUT.md and OUTPUT.png."),
) -> None:
    """Markdown table + bar chart of scores files; `pr2 report train RUN_DIR` plots a training run, and
    `pr2 report train RUN_A RUN_B ... --output PREFIX` compares runs (curves on the same axes, block means);
    `pr2 report agreement A.json B.json` compares two judgements of the same responses aspect by aspect."""
    if paths[0] == "agreement":
        from pr2.judge.agreement import agreement

        if len(paths) != 3:
            raise PR2Error("usage: pr2 report agreement SCORES_A.json SCORES_B.json")
        for line in agreement(paths[1], paths[2]).lines():
            typer.echo(line)
        return
    if paths[0] == "train":
        from pr2.report.train_plots import compare_training, plot_training

        if len(paths) < 2:
            raise PR2Error("usage: pr2 report train RUN_DIR [RUN_DIR ...] [--output PREFIX]")
        written = plot_training(paths[1]) if len(paths) == 2 else compare_training(paths[1:], output)
        for path in written:
            typer.echo(f"wrote {path}")
        return
    from pr2.judge.report import write_report

    table, md, png = write_report(paths, output)
    typer.echo(table)
    typer.echo(f"wrote {md} and {png}")


def _generator(
    model: str,
    backend: str,
    base_url,
    api_key_addr,
    adapter,
    max_model_len,
    trust_remote_code,
    batch_size: int = 16,
    gpu_memory_utilization: float = 0.9,
    concurrency: int = _CONCURRENCY,
    dtype: str | None = None,
):
    from pr2.generation import GeneratorConfig, load_generator

    return load_generator(
        GeneratorConfig(
            model=model,
            backend=backend,
            base_url=base_url,
            api_key_addr=api_key_addr,
            adapter=adapter,
            max_model_len=max_model_len,
            trust_remote_code=trust_remote_code,
            batch_size=batch_size,
            gpu_memory_utilization=gpu_memory_utilization,
            concurrency=concurrency,
            dtype=dtype,
        )
    )


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave this option (not its default): an adapter's trained settings yield only to those."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _score_into(
    questions,
    answers,
    output_dir: Path,
    judge_model: str | None,
    judge_mode: str | None,
    backend: str,
    base_url,
    api_key_addr,
) -> None:
    if not judge_model:
        return
    from pr2.judge.evaluate import score_and_write, summary_lines

    judge = _judge_options(
        judge_model, judge_mode, backend, base_url, api_key_addr, None, None, str(output_dir / "judge-cache.jsonl")
    )
    report = score_and_write(questions, answers, output_dir / "scores.json", judge)
    for line in summary_lines(report):
        typer.echo(line)
    typer.echo(f"wrote {output_dir / 'scores.json'}")


@app.command()
@one_line_errors
def run(
    ctx: typer.Context,
    questions_address: Path = _opt(..., "questions_address", "Dataset (.json/.jsonl), e.g. a prepared {split}.jsonl."),
    output_address: Path = _opt(..., "output_address", "Output folder: responses.json, trajectories.jsonl, ..."),
    model: str = _opt("smollm2", "model", "Policy: smollm2, qwen, gemma, llama, a Hub id, a path or a served name."),
    backend: str = _opt("hf", "backend", "hf, openai or vllm."),
    adapter: str | None = _opt(
        None, "adapter", "LoRA adapter directory (from pr2 train), or `laptop` for the one shipped in the package."
    ),
    temperature: float = _opt(_AGENT.temperature, "temperature", "Sampling temperature of the policy."),
    top_p: float = _opt(_AGENT.top_p, "top_p", "Nucleus sampling mass."),
    base_url: str | None = _opt(None, "base-url", "OpenAI-compatible server URL (--backend openai)."),
    api_key_addr: str | None = _opt(None, "api_key_addr", "File with the API key."),
    split: str | None = _opt("test", "split", "Keep questions of this split (records without one are kept)."),
    subsets: str = _opt("ALL", "subsets", "ALL or a comma list of categories."),
    limit: int | None = _opt(None, "limit", "Keep the first N questions after the split/subset filter."),
    max_model_len: int = _opt(_AGENT.max_model_len, "max-model-len", "Total token budget per episode."),
    max_turn_tokens: int = _opt(_AGENT.max_turn_tokens, "max-turn-tokens", "New tokens per turn."),
    top_k: int = _opt(_AGENT.top_k, "top-k", "Profile posts inserted per search."),
    max_searches: int = _opt(_AGENT.max_searches, "max-searches", "Searches per question."),
    item_tokens: int = _opt(_AGENT.item_tokens, "item-tokens", "Each inserted post is cut to this many tokens."),
    retriever: str = _opt(_AGENT.retriever, "retriever", "bm25, minilm, contriever, or an encoder id/path."),
    candidate_pool: int | None = _opt(
        _AGENT.candidate_pool, "candidate-pool", "Search only the top K posts (a pr2 rank order, else ranked here)."
    ),
    example_turn: bool = _opt(
        _AGENT.example_turn, "example-turn/--no-example-turn", "Show one worked example episode first."
    ),
    force_answer: bool = _opt(
        _AGENT.force_answer, "force-answer/--no-force-answer", "After the last search, open the answer tag."
    ),
    answer_on_stop: bool = _opt(
        _AGENT.answer_on_stop,
        "answer-on-stop/--no-answer-on-stop",
        "Tell a policy that ends its turn with neither search nor answer to answer (once).",
    ),
    prefill: str | None = _opt(_AGENT.prefill, "prefill", "Text the assistant turn starts with ('' for none)."),
    answer_prefill: str | None = _opt(
        _AGENT.answer_prefill, "answer-prefill", "Text inserted where the answer tag opens ('' for none)."
    ),
    batch_size: int = _opt(_AGENT.batch_size, "batch-size", "Questions advanced together."),
    gpu_memory_utilization: float = _opt(
        0.9, "gpu-memory-utilization", "vLLM: share of GPU memory (on a CPU build: of RAM) for the engine."
    ),
    dtype: str | None = _opt(
        None, "dtype", "hf: auto (bf16 where the CPU or GPU has it), bf16, fp16 or fp32 (default: fp32 on CPU)."
    ),
    seed: int = _opt(_AGENT.seed, "seed", "Sampling seed."),
    judge_model: str | None = _opt(None, "judge-model", "Also score the answers with this judge (minilm = proxy)."),
    judge_mode: str | None = _opt(None, "judge-mode", "generate, logprob or embedding."),
    judge_backend: str = _opt("hf", "judge-backend", "Back end of the judge."),
    judge_base_url: str | None = _opt(None, "judge-base-url", "Server URL of the judge."),
    judge_api_key_addr: str | None = _opt(None, "judge-api-key-addr", "File with the judge server's API key."),
    trust_remote_code: bool = _opt(False, "trust-remote-code", "Allow the model's own code to run."),
    overwrite: bool = _opt(False, "overwrite", "Start over: remove this folder's earlier outputs instead of resuming."),
) -> None:
    """Run the PR² agent: think, search the user's profile, answer (resumes a crashed run). With `--adapter` from
    `pr2 train`, the agent settings it was trained with apply, except those given here as flags."""
    from pr2.agent.run import run_agent_file
    from pr2.agent.settings import agent_config_for
    from pr2.data.io import select_questions

    questions = select_questions(questions_address, split=split, subsets=subsets, limit=limit)
    given = {
        name: value
        for name, value in {
            "top_k": top_k, "max_searches": max_searches, "max_turn_tokens": max_turn_tokens,
            "max_model_len": max_model_len, "item_tokens": item_tokens, "candidate_pool": candidate_pool,
            "example_turn": example_turn, "force_answer": force_answer, "answer_on_stop": answer_on_stop,
            "prefill": prefill or None, "answer_prefill": answer_prefill or None, "retriever": retriever,
            "temperature": temperature, "top_p": top_p, "seed": seed, "batch_size": batch_size,
        }.items()
        if ctx is None or _from_command_line(ctx, name)
    }  # fmt: skip
    adapter = resolve_adapter(adapter)
    config = agent_config_for(adapter, given)
    max_model_len = config.max_model_len
    generator = _generator(
        model,
        backend,
        base_url,
        api_key_addr,
        adapter,
        max_model_len,
        trust_remote_code,
        config.batch_size,
        gpu_memory_utilization,
        dtype=dtype,
    )
    fingerprint = {
        "policy": model_identity(model, backend, base_url, adapter),
        "data": data_digest(questions_address),
    }
    record_source(output_address, questions_address)
    result = run_agent_file(questions, output_address, generator, config, fingerprint=fingerprint, overwrite=overwrite)
    for line in result.summary.lines():
        typer.echo(line)
    typer.echo(f"wrote {output_address / 'responses.json'} and {output_address / 'trajectories.jsonl'}")
    answers = {t.question_id: t.answer for t in result.trajectories}
    _score_into(
        questions, answers, output_address, judge_model, judge_mode, judge_backend, judge_base_url, judge_api_key_addr
    )


@app.command()
@one_line_errors
def baseline(
    questions_address: Path = _opt(..., "questions_address", "Dataset (.json/.jsonl)."),
    output_address: Path = _opt(..., "output_address", "Output folder: responses.json, outputs.jsonl."),
    method: str | None = _opt(None, "method", "none, rag or planpers (default: rag; lamp-qa: none unless --rag)."),
    model: str = _opt("smollm2", "model", "Answering model.", "--model_addr"),
    planner: str | None = _opt(None, "planner", "PlanPers planner model (default: the answering model)."),
    backend: str = _opt("hf", "backend", "hf, openai or vllm."),
    base_url: str | None = _opt(None, "base-url", "OpenAI-compatible server URL."),
    api_key_addr: str | None = _opt(None, "api_key_addr", "File with the API key."),
    protocol: str = _opt(
        _BASELINE.protocol, "protocol", "pr2 (pr2's prompts) or lamp-qa (the benchmark's baselines.py exactly)."
    ),
    lamp_qa_repo: str | None = _opt(None, "lamp-qa-repo", "Checkout of the LaMP-QA repository (lamp-qa protocol)."),
    rag: bool = _opt(False, "rag", "The benchmark's flag: the RAG baseline (= --method rag)."),
    num_contexts: int = _opt(
        _BASELINE.num_contexts, "num_contexts", "lamp-qa: the first N posts of the (ranked) profile in the prompt."
    ),
    max_retries: int = _opt(
        _BASELINE.max_retries, "max_retries", "lamp-qa: rounds before an unreadable answer is left empty."
    ),
    num_generated_outputs: int = _opt(
        _BASELINE.num_generated_outputs, "num_generated_outputs", "lamp-qa: answers per question."
    ),
    top_k: int = _opt(10, "top-k", "pr2: profile posts in the prompt."),
    retriever: str = _opt("minilm", "retriever", "bm25, minilm, contriever, an encoder id/path, or ranked."),
    temperature: float | None = _opt(None, "temperature", "Sampling temperature (pr2: 0.1; lamp-qa: 0.0)."),
    max_tokens: int = _opt(512, "max-tokens", "pr2: tokens of the answer (lamp-qa: the benchmark's 4096)."),
    answer_prefill: str | None = _opt(None, "answer-prefill", "pr2: text the answer starts with (as the agent's)."),
    split: str | None = _opt("test", "split", "Split to keep."),
    subsets: str = _opt("ALL", "subsets", "ALL or categories."),
    limit: int | None = _opt(None, "limit", "First N questions."),
    batch_size: int = _opt(16, "batch-size", "Questions per generate call."),
    judge_model: str | None = _opt(None, "judge-model", "Also score the answers with this judge."),
    judge_mode: str | None = _opt(None, "judge-mode", "generate, logprob or embedding."),
    judge_backend: str | None = _opt(None, "judge-backend", "Back end of the judge (default: the policy's)."),
    judge_base_url: str | None = _opt(None, "judge-base-url", "Server URL of the judge (default: the policy's)."),
    judge_api_key_addr: str | None = _opt(None, "judge-api-key-addr", "File with the judge server's API key."),
    trust_remote_code: bool = _opt(False, "trust-remote-code", "Allow the model's own code to run."),
    overwrite: bool = _opt(False, "overwrite", "Start over: remove this folder's earlier outputs instead of resuming."),
) -> None:
    """Answer with a baseline (none, rag, planpers) in the same output format as `pr2 run`."""
    from pr2.baselines import BaselineConfig, run_baseline_file
    from pr2.data.io import select_questions

    questions = select_questions(questions_address, split=split, subsets=subsets, limit=limit)
    if rag:
        method = "rag"
    elif method is None:
        method = "none" if protocol == "lamp-qa" else "rag"  # the benchmark's baselines.py answers without --rag
    config = BaselineConfig(
        method=method,
        top_k=top_k,
        retriever=retriever,
        max_tokens=max_tokens,
        answer_prefill=answer_prefill or None,
        temperature=temperature if temperature is not None else (0.0 if protocol == "lamp-qa" else 0.1),
        batch_size=batch_size,
        protocol=protocol,
        lamp_qa_repo=lamp_qa_repo,
        num_contexts=num_contexts,
        max_retries=max_retries,
        num_generated_outputs=num_generated_outputs,
    )
    generator = _generator(model, backend, base_url, api_key_addr, None, None, trust_remote_code, batch_size)
    plan_gen = _generator(planner, backend, base_url, api_key_addr, None, None, trust_remote_code) if planner else None
    fingerprint = {
        "policy": model_identity(model, backend, base_url),
        "planner": model_identity(planner, backend, base_url) if planner else None,
        "data": data_digest(questions_address),
    }
    record_source(output_address, questions_address)
    outputs, resumed = run_baseline_file(
        questions, output_address, generator, config, planner=plan_gen, fingerprint=fingerprint, overwrite=overwrite
    )
    typer.echo(f"{method}: {len(outputs)} answers ({resumed} resumed) -> {output_address / 'responses.json'}")
    _score_into(
        questions,
        {o.id: o.answer for o in outputs},
        output_address,
        judge_model,
        judge_mode,
        judge_backend or backend,
        judge_base_url if judge_backend else (judge_base_url or base_url),
        judge_api_key_addr if judge_backend else (judge_api_key_addr or api_key_addr),
    )


@app.command()
@one_line_errors
def view(
    runs: list[Path] = typer.Argument(..., help="Run folders (pr2 run, baseline, demo, train) or scores files."),
    output: Path = _opt(Path("pr2-view.html"), "output", "The HTML file to write (self-contained, opens offline)."),
    questions: list[Path] | None = _opt(
        None,
        "questions",
        "Dataset file(s) the runs answered: question texts, profile sizes, post texts (default: the file each "
        "run recorded, where it is unchanged).",
    ),
) -> None:
    """Write one HTML file that shows what each policy did: trajectories, judgements, runs side by side."""
    from pr2.report.viewer import write_view

    path = write_view(runs, output, questions or ())
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); open it in a browser")


@app.command()
@one_line_errors
def demo(
    output_address: Path = _opt(Path("pr2-demo"), "output_address", "Where to write the demo's files."),
    limit: int = _opt(9, "limit", "Held-out users to run, one per topic first (0: all 60)."),
    adapter: str | None = _opt(None, "adapter", "LoRA adapter of the trained row (default: the one shipped)."),
) -> None:
    """PR² trained on a laptop against no personalization, RAG and PR² untrained, on held-out users of the generated
    benchmark (SmolLM2, MiniLM); fact judge with 95% intervals, embedding proxy beside it."""
    from pr2.demo import run_demo

    run_demo(output_address, limit=limit or None, adapter=resolve_adapter(adapter), echo=typer.echo)


@app.command()
@one_line_errors
def heldout(
    output_address: Path = _opt(..., "output_address", "Folder for the policy's trajectories, scores and row."),
    model: str = _opt("smollm2", "model", "The policy's model (a path, preset or Hub id)."),
    adapter: str | None = _opt(None, "adapter", "A LoRA adapter on --model, or `laptop` for the shipped one."),
    run_dir: Path | None = _opt(
        None, "run", "A pr2 train folder: its exact policy (start model + GRPO's adapter), instead of --model."
    ),
    checkpoint: Path | None = _opt(None, "checkpoint", "With --run: a checkpoint folder instead of RUN/final."),
    name: str = _opt("policy", "name", "The row's name in the printed table."),
) -> None:
    """Score any policy on the generated benchmark's 60 held-out users as `pr2 demo` scores its rows (greedy, fact
    judge with a 95% interval, proxy beside it; not a LaMP-QA score)."""
    from pr2.demo import TABLE_HEAD, record_line
    from pr2.heldout import exact_policy, score_policy

    agent = None
    if run_dir is not None:
        model, adapter, agent = exact_policy(run_dir, checkpoint)
    record = score_policy(output_address, model=model, adapter=resolve_adapter(adapter), agent=agent, name=name)
    typer.echo(TABLE_HEAD)
    typer.echo(record_line(name, record))
    typer.echo(f"searches finding an evidence post: {record['searches_finding_evidence']:.1%}")
    typer.echo(f"wrote {output_address / 'heldout-row.json'}")


@app.command()
@one_line_errors
def train(
    config: Path | None = _opt(None, "config", "YAML config (pr2 TrainConfig and TRL GRPOConfig fields)."),
    set_: list[str] = typer.Option([], "--set", help="key=value override (repeatable), e.g. --set max_steps=10."),
    resume_from_checkpoint: str | None = _opt(None, "resume_from_checkpoint", "Checkpoint folder to continue from."),
    warm_start: bool = _opt(False, "warm-start", "Rejection-sampling fine-tuning before GRPO."),
    overwrite: bool = _opt(False, "overwrite", "Start over: remove the output folder's earlier run first."),
) -> None:
    """Train the PR² policy with GRPO (TRL): multi-turn rollouts with profile search, personalized reward."""
    from pr2.train import load_train_config
    from pr2.train.trainer import train as run_training

    cfg = load_train_config(config, set_)
    if warm_start:
        cfg.warm_start = True
    result = run_training(cfg, resume_from_checkpoint=resume_from_checkpoint, overwrite=overwrite)
    typer.echo(
        f"trained {result.global_step} steps; adapter: {result.adapter_dir}; metrics: "
        f"{result.output_dir / 'metrics.jsonl'} (plot: pr2 report train {result.output_dir})"
    )


@app.command("export-adapter")
@one_line_errors
def export_adapter(
    run_dir: Path = typer.Argument(..., help="A finished `pr2 train` output folder."),
    output: Path = _opt(Path("adapter"), "output", "Where to write the adapter."),
    rank: int = _opt(32, "rank", "LoRA rank of the exported adapter (the run's summed ranks keep all of it)."),
    dtype: str = _opt("fp16", "dtype", "fp16, bf16 or fp32 weights."),
) -> None:
    """One LoRA adapter on the base model for what a run learned (warm start and GRPO together)."""
    from pr2.train.export import export_adapter as export

    summary = export(run_dir, output, rank=rank, dtype=dtype)
    typer.echo(
        f"wrote {output}: rank {rank}, {summary['layers']} layers, share of the change kept: mean "
        f"{summary['mean_norm_kept']:.4f}, lowest {summary['min_norm_kept']:.4f}"
    )


@app.command()
@one_line_errors
def serve(
    ctx: typer.Context,
    db: str = _opt("pr2.db", "db", "Database: a SQLite file, sqlite:///path or postgresql+psycopg://user@host/db."),
    model: str = _opt("smollm2", "model", "Policy: smollm2, qwen, gemma, llama, a Hub id, a path or a served name."),
    backend: str = _opt("hf", "backend", "hf, openai or vllm."),
    base_url: str | None = _opt(None, "base-url", "OpenAI-compatible server URL (--backend openai)."),
    api_key_addr: str | None = _opt(None, "api_key_addr", "File with the model server's API key."),
    adapter: str | None = _opt(
        None, "adapter", "LoRA adapter directory (from pr2 train) or `laptop` (shipped); its agent settings apply."
    ),
    dtype: str | None = _opt(None, "dtype", "hf: auto, bf16, fp16 or fp32."),
    host: str = _opt("127.0.0.1", "host", "Address to listen on."),
    port: int = _opt(8000, "port", "Port to listen on."),
    max_model_len: int = _opt(_AGENT.max_model_len, "max-model-len", "Total token budget per episode."),
    max_turn_tokens: int = _opt(_AGENT.max_turn_tokens, "max-turn-tokens", "New tokens per turn (a request's cap)."),
    top_k: int = _opt(_AGENT.top_k, "top-k", "Posts inserted per search."),
    max_searches: int = _opt(_AGENT.max_searches, "max-searches", "Searches per question."),
    retriever: str = _opt(_AGENT.retriever, "retriever", "bm25, minilm, contriever, or an encoder id/path."),
    prefill: str | None = _opt(_AGENT.prefill, "prefill", "Text the assistant turn starts with ('' for none)."),
    answer_on_stop: bool = _opt(
        _AGENT.answer_on_stop, "answer-on-stop/--no-answer-on-stop", "Tell a policy that stops silently to answer."
    ),
    answer_prefill: str | None = _opt(
        _AGENT.answer_prefill, "answer-prefill", "Text inserted where the answer tag opens ('' for none)."
    ),
    max_batch: int = _opt(16, "max-batch", "Answer requests advanced together."),
    batch_window_ms: float = _opt(10.0, "batch-window-ms", "How long a batch waits for more requests."),
    max_posts_per_user: int = _opt(100_000, "max-posts-per-user", "Posts one user may hold (413 beyond)."),
    max_queue: int = _opt(256, "max-queue", "Answer requests waiting or running at most (429 beyond)."),
    max_in_flight_per_key: int = _opt(32, "max-in-flight-per-key", "Answer requests one API key may have at once."),
    answer_cache: bool = _opt(
        True, "answer-cache/--no-answer-cache", "Keep greedy answers for an unchanged profile and the same question."
    ),
    no_model: bool = _opt(False, "no-model", "Serve posts only (no answers): load no model."),
) -> None:
    """Serve personalized answers over HTTP: users' posts in a database, the PR² agent behind /v1/answer and an
    OpenAI-compatible /v1/chat/completions (the request's `user` names the profile). Requests need an API key
    (pr2 keys create)."""
    from pr2.agent.settings import agent_config_for
    from pr2.serve.server import build_app
    from pr2.serve.server import serve as run_server
    from pr2.serve.service import ServeConfig

    given = {
        name: value
        for name, value in {
            "max_model_len": max_model_len, "max_turn_tokens": max_turn_tokens, "top_k": top_k,
            "max_searches": max_searches, "retriever": retriever, "prefill": prefill or None,
            "answer_on_stop": answer_on_stop, "answer_prefill": answer_prefill or None,
        }.items()
        if _from_command_line(ctx, name)
    }  # fmt: skip
    adapter = resolve_adapter(adapter)
    agent = agent_config_for(adapter, {**given, "temperature": 0.0, "seed": 0})
    generator_config = None
    if not no_model:
        generator_config = GeneratorConfig(
            model=model,
            backend=backend,
            base_url=base_url,
            api_key_addr=api_key_addr,
            adapter=adapter,
            dtype=dtype,
            max_model_len=agent.max_model_len,
            batch_size=max_batch,
        )
    config = ServeConfig(
        max_batch=max_batch, batch_window=batch_window_ms / 1000, max_posts_per_user=max_posts_per_user,
        max_queue=max_queue, max_in_flight_per_key=max_in_flight_per_key,
    )  # fmt: skip
    app_ = build_app(db, generator_config, agent, config, cache_answers=answer_cache)
    if not app_.state.store.has_keys():
        typer.echo(f"note: no API key yet; every request will be refused until you run: pr2 keys create --db {db}")
    run_server(app_, host, port)


keys_app = typer.Typer(help="API keys of pr2 serve (stored hashed; a key is shown once).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@one_line_errors
def keys_create(
    db: str = _opt("pr2.db", "db", "The server's database."),
    name: str | None = _opt(None, "name", "A label for the key."),
    user: list[str] | None = _opt(None, "user", "Limit the key to this user (repeatable); default: every user."),
) -> None:
    """Create an API key and print it (only its hash is stored: keep it now)."""
    from pr2.serve.store import Store

    key_id, key = Store(db).create_key(name, user or None)
    typer.echo(f"key id: {key_id}")
    typer.echo(key)


@keys_app.command("revoke")
@one_line_errors
def keys_revoke(
    key_id: str = typer.Argument(..., help="The key's id (pr2 keys list)."),
    db: str = _opt("pr2.db", "db", "The server's database."),
) -> None:
    """Revoke an API key: refused from the next request on, by every server process."""
    from pr2.serve.store import Store

    if not Store(db).revoke_key(key_id):
        raise PR2Error(f"no active key with id {key_id!r} in {db}")
    typer.echo(f"revoked {key_id}")


@keys_app.command("list")
@one_line_errors
def keys_list(db: str = _opt("pr2.db", "db", "The server's database.")) -> None:
    """The keys: id, name, users, whether revoked (never the key itself)."""
    from pr2.serve.store import Store

    for k in Store(db).list_keys():
        users = "all users" if k["users"] is None else ", ".join(k["users"])
        typer.echo(f"{k['id']}  {k['name'] or '-'}  {users}  {'revoked' if k['revoked'] else 'active'}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
