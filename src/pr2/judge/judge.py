"""Judges: score one (question, response, rubric aspect) pair 0, 1 or 2.

- `generate`: the judge writes a small JSON object (the benchmark's way); unreadable answers are retried with the
  temperature raised by 0.1 a round (from 0) up to `retry_cap` rounds, then scored 0.
- `logprob`: one forward pass; the score is the expected value under the judge's probabilities of "0", "1", "2".
- `embedding`: a PROXY for machines without a capable LLM (see embedding.py); never the LaMP-QA score.
- `fact`: the checker of a generated `pr2 synth` benchmark: 2 when the answer states the aspect's fact (fact.py).

Judgements are cached on disk by the exact judge input, so an evaluation that is killed resumes and an identical
pair is never judged twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pr2.data.io import JsonlWriter
from pr2.errors import PR2Error
from pr2.generation.base import Generator, SamplingParams
from pr2.judge.parsing import parse_score
from pr2.judge.prompts import GENERATE_SUFFIX, LOGPROB_SUFFIX, load_template, render

log = logging.getLogger(__name__)

MODES = ("generate", "logprob", "embedding", "fact")
PROTOCOLS = ("pr2", "lamp-qa")


@dataclass
class JudgeConfig:
    """How answers are judged."""

    model: str = "minilm"
    """The judge: an LLM preset / Hub id / path / served name, or a sentence-transformers model for `embedding`."""
    mode: str = "embedding"
    """generate (JSON answer, the benchmark's way), logprob (expected score, one pass) or embedding (a proxy)."""
    protocol: str = "pr2"
    """The LLM judge's text: `lamp-qa` (the benchmark's messages, sampling, parsing and retries, read from its own
    evaluator.py; LaMP-QA numbers) or `pr2` (pr2's own prompt, offline)."""
    lamp_qa_repo: str | None = None
    """A checkout of the benchmark for `lamp-qa` (else $LAMP_QA_REPO, else a pinned download into pr2's cache)."""
    retry_cap: int = 100
    """Rounds of retries for unreadable answers in generate mode before a pair scores 0 (the benchmark: 100)."""
    max_tokens: int | None = None
    """Tokens the judge may write per answer in generate mode (None: the protocol's; lamp-qa 4096, pr2 256)."""
    max_length: int | None = None
    """Truncate each response to this many tokens (judge tokenizer) before judging; None keeps it whole."""
    prompt_file: str | None = None
    """A prompt with {question} {details} {response} {aspect} {reason} {evidence}; default: pr2's own."""
    cache_path: str | None = None
    """JSONL file of judgements keyed by the exact judge input (resume; never judge a pair twice)."""
    flush_every: int = 64
    """Pairs judged together, in fixed chunks by position among a call's distinct pairs, each written to the cache
    as it is judged (a killed evaluation loses at most one chunk). A chunk is the same batch in an uninterrupted
    run and in a resumed one (a chunk cut short is judged again whole), so resuming gives every score bit for bit."""


TEXT_FIELDS = ("question", "details", "response", "aspect", "reason", "evidence")


@dataclass(frozen=True)
class Pair:
    question: str
    details: str
    response: str
    aspect: str
    reason: str
    evidence: str
    fact: tuple[str, ...] = ()
    """Phrases that state the aspect's fact (aspects of a `pr2 synth` benchmark carry them; the fact judge reads them)."""
    facet: str = ""
    """The fact's facet in the `pr2 synth` catalogue (the fact judge punishes naming any other value of it)."""
    source: str = ""
    """The text of the profile post that holds the fact (the fact judge pays nothing for a value pasted from it)."""

    @classmethod
    def of(cls, question, aspect, response: str) -> Pair:
        """The pair of one (question, rubric aspect) and a response."""
        fact = aspect.extra.get("fact", {})
        post = fact.get("post")  # only a generated benchmark's aspects name one: no profile scan for LaMP-QA pairs
        source = next((p.text for p in question.profile if p.id == post), "") if post else ""
        return cls(
            question.question, question.narrative, response, aspect.aspect, aspect.reason, aspect.evidence,
            tuple(fact.get("phrases", ())), str(fact.get("facet", "")), source,
        )  # fmt: skip

    def texts(self) -> dict[str, str]:
        """The six texts a judge prompt is filled with."""
        return {name: getattr(self, name) for name in TEXT_FIELDS}


@dataclass
class Judgement:
    score: float
    rationale: str = ""
    rounds: int = 1
    failed: bool = False
    cached: bool = False


@dataclass
class JudgeStats:
    pairs: int = 0
    cached: int = 0
    retried: int = 0
    failed: int = 0


class _Cache:
    def __init__(self, path: str | None) -> None:
        self.entries: dict[str, dict] = {}
        self._writer = None
        if path:
            self._writer = JsonlWriter(Path(path), key="key", skip_damaged=True)  # a lost entry is judged again
            self.entries = {r["key"]: r for r in self._writer.records if "key" in r}

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, record: dict) -> None:
        record = {"key": key, **record}
        self.entries[key] = record
        if self._writer:
            self._writer.write(record)


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class Judge:
    """Base: caching, batching and statistics; subclasses judge uncached pairs."""

    mode = "base"
    proxy = False
    protocol: str | None = None  # the LLM judges' text (pr2 or lamp-qa); None for judges that read no prompt

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self.cache = _Cache(config.cache_path)
        self.stats = JudgeStats()

    def describe(self) -> dict:
        info = {"model": self.config.model, "mode": self.mode, "protocol": self.protocol, "proxy": self.proxy}
        info.update(self._budget())  # a generate-mode budget other than the protocol's is on record
        if self.proxy:
            info["note"] = (
                "PROXY: embedding similarity, not the LaMP-QA score; for the benchmark's judge run "
                "pr2 evaluate --judge-mode generate --evaluator_llm Qwen/Qwen2.5-32B-Instruct"
            )
        return info

    def _budget(self) -> dict:
        """Generate-mode settings that differ from the protocol's (retries, tokens): they change what a hard pair
        scores, so they go into the record and the cache key."""
        if self.mode != "generate":
            return {}
        out = {}
        if self.config.retry_cap != JudgeConfig.retry_cap:
            out["retry_cap"] = self.config.retry_cap
        if self.config.max_tokens is not None:
            out["max_tokens"] = self.config.max_tokens
        return out

    def input_text(self, pair: Pair) -> str:
        raise NotImplementedError

    def _judge_uncached(self, pairs: list[Pair], texts: list[str]) -> list[Judgement]:
        raise NotImplementedError

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement]:
        pairs = [self._truncate(p) for p in pairs]
        texts = [self.input_text(p) for p in pairs]
        budget = self._budget()
        scope = [self.mode, self.protocol or "", self.config.model]
        if budget:  # another generate budget is another judge: its verdicts are kept apart
            scope.append(json.dumps(budget, sort_keys=True))
        keys = [_key(*scope, t) for t in texts]
        results: list[Judgement | None] = []
        first_of: dict[str, int] = {}  # identical pairs in one call are judged once
        for i, key in enumerate(keys):
            first_of.setdefault(key, i)
            hit = self.cache.get(key)
            if hit is not None:
                results.append(
                    Judgement(
                        hit["score"],
                        hit.get("rationale", ""),
                        hit.get("rounds", 1),
                        hit.get("failed", False),
                        cached=True,
                    )
                )
            else:
                results.append(None)
        size = max(1, self.config.flush_every)
        firsts = list(first_of)  # distinct pairs in order, cached or not: the chunks do not move on a resume
        for start in range(0, len(firsts), size):
            chunk = [first_of[key] for key in firsts[start : start + size]]
            if all(results[i] is not None for i in chunk):
                continue
            # judged whole, as in the run that was cut short: a judgement depends on its batch (padding, sampling)
            fresh = self._judge_uncached([pairs[i] for i in chunk], [texts[i] for i in chunk])
            for i, judgement in zip(chunk, fresh, strict=True):
                if results[i] is not None:  # in the cache already, made in this same chunk before
                    continue
                self.cache.put(
                    keys[i],
                    {
                        "score": judgement.score,
                        "rationale": judgement.rationale,
                        "rounds": judgement.rounds,
                        "failed": judgement.failed,
                    },
                )
                results[i] = judgement
        for i, key in enumerate(keys):
            if results[i] is None:
                results[i] = results[first_of[key]]
        self.stats.pairs += len(pairs)
        self.stats.cached += sum(r.cached for r in results)  # type: ignore[union-attr]
        self.stats.retried += sum(r.rounds > 1 and not r.cached for r in results)  # type: ignore[union-attr]
        self.stats.failed += sum(r.failed and not r.cached for r in results)  # type: ignore[union-attr]
        return results  # type: ignore[return-value]

    def _truncate(self, pair: Pair) -> Pair:
        return pair


class LLMJudge(Judge):
    def __init__(self, config: JudgeConfig, generator: Generator) -> None:
        if config.mode not in ("generate", "logprob"):
            raise PR2Error(f"LLM judge mode must be generate or logprob, got {config.mode!r}")
        if config.protocol not in PROTOCOLS:
            raise PR2Error(f"unknown judge protocol {config.protocol!r}; choose from {', '.join(PROTOCOLS)}")
        super().__init__(config)
        self.mode, self.protocol = config.mode, config.protocol
        self.generator = generator
        if self.protocol == "lamp-qa":
            if config.prompt_file:
                raise PR2Error("--judge-prompt replaces pr2's own prompt; the lamp-qa protocol is the benchmark's text")
            from pr2.judge.lamp_qa import LampQAJudgePrompt

            self.lamp_qa = LampQAJudgePrompt.load(config.lamp_qa_repo)
        else:
            self.template = load_template(config.prompt_file)

    def _truncate(self, pair: Pair) -> Pair:
        tokenizer = getattr(self.generator, "tokenizer", None)
        if not self.config.max_length or tokenizer is None:
            return pair
        ids = tokenizer(pair.response, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.config.max_length:
            return pair
        text = tokenizer.decode(ids[: self.config.max_length], skip_special_tokens=True)
        return replace(pair, response=text)

    def messages(self, pair: Pair) -> list[dict]:
        """The conversation the judge model receives for one pair."""
        if self.protocol == "lamp-qa":
            return self.lamp_qa.messages(**pair.texts())
        suffix = GENERATE_SUFFIX if self.mode == "generate" else LOGPROB_SUFFIX
        return [{"role": "user", "content": render(self.template, suffix, **pair.texts())}]

    def input_text(self, pair: Pair) -> str:
        return "\x1e".join(f"{m['role']}:{m['content']}" for m in self.messages(pair))

    def _judge_uncached(self, pairs: list[Pair], texts: list[str]) -> list[Judgement]:
        prompts = [self.messages(p) for p in pairs]
        if self.mode == "logprob":
            return self._expected_scores(prompts)
        lamp_qa = self.protocol == "lamp-qa"
        if lamp_qa:
            from pr2.data.benchmark_code import MAX_TOKENS, TOP_P
            from pr2.judge.lamp_qa import parse_match_score, temperatures

            schedule = temperatures(self.config.retry_cap + 1)
            top_p, max_tokens = TOP_P, self.config.max_tokens or MAX_TOKENS
        else:
            schedule = [round(0.1 * r, 1) for r in range(self.config.retry_cap + 1)]
            top_p, max_tokens = 1.0, self.config.max_tokens or 256
        results: list[Judgement | None] = [None] * len(pairs)
        pending = list(range(len(pairs)))
        for round_, temperature in enumerate(schedule):
            if not pending:
                break
            params = SamplingParams(
                temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=None if lamp_qa else round_
            )
            answers = self.generator.generate([prompts[i] for i in pending], params)
            still = []
            for i, answer in zip(pending, answers, strict=True):
                if lamp_qa:
                    score = parse_match_score(answer.text)
                    parsed = None if score is None else (score, "")
                else:
                    parsed = parse_score(answer.text)
                if parsed is None:
                    still.append(i)
                else:
                    results[i] = Judgement(float(parsed[0]), parsed[1], rounds=round_ + 1)
            pending = still
        if pending:
            log.warning("%d pair(s) gave no readable score after %d rounds; scored 0", len(pending), len(schedule))
        for i in pending:
            results[i] = Judgement(0.0, "no readable score", rounds=len(schedule), failed=True)
        return results  # type: ignore[return-value]

    def _expected_scores(self, prompts: list[list[dict]]) -> list[Judgement]:
        """Logprob mode: the expected score under the judge's P("0"), P("1"), P("2") right where the score goes
        (lamp-qa: the assistant turn prefilled with the benchmark's answer up to the digit of `match_score`)."""
        if self.protocol == "lamp-qa":
            from pr2.generation.chat import chat_text, tokenizer_of
            from pr2.judge.lamp_qa import LOGPROB_PREFILL

            tokenizer = tokenizer_of(self.generator, "logprob mode with the lamp-qa protocol (it templates the turn)")
            prompts = [chat_text(tokenizer, m) + LOGPROB_PREFILL for m in prompts]
        out = []
        for scores in self.generator.score(prompts, ["0", "1", "2"]):
            probs = {c: math.exp(lp) for c, lp in scores.items()}
            total = sum(probs.values())
            if total <= 0:
                out.append(Judgement(0.0, "no probability on 0/1/2", failed=True))
                continue
            expected = sum(int(c) * p for c, p in probs.items()) / total
            out.append(Judgement(expected, f"p(0,1,2)={[round(probs[c] / total, 3) for c in '012']}"))
        return out


def build_judge(
    config: JudgeConfig, generator: Generator | None = None, *, smooth: bool = False, **generator_options
) -> Judge:
    """The judge for `config`; LLM modes load `config.model` through the generation back ends unless given one.
    `smooth` gives the embedding proxy's graded score (a training reward); `generator_options` only reach LLMs."""
    if config.mode not in MODES:
        raise PR2Error(f"unknown judge mode {config.mode!r}; choose from {', '.join(MODES)}")
    if config.mode == "embedding":
        from pr2.judge.embedding import EmbeddingJudge

        return EmbeddingJudge(config, smooth=smooth)
    if config.mode == "fact":
        from pr2.judge.fact import FactJudge

        return FactJudge(config)
    if generator is None:
        from pr2.generation import GeneratorConfig, load_generator

        generator = load_generator(GeneratorConfig(model=config.model, **generator_options))
    return LLMJudge(config, generator)
