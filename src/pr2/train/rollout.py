"""TRL `rollout_func`: the PR² agent loop for every prompt TRL hands over.

TRL (1.16) passes each prompt already repeated `num_generations` times and wants one completion per prompt it
passes. Our dataset's prompt is the question id; the loop looks the question up, so a search only ever reaches that
question's own profile. Returned per completion: the prompt ids, all turns' ids in order (model and inserted
information), the sampling logprobs, and `env_mask` (0 exactly on information tokens: never trained on).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import replace

from pr2.agent import AgentConfig, Segment, Trajectory, run_agent
from pr2.data.schema import Question
from pr2.errors import PR2Error
from pr2.generation.base import Completion, SamplingParams
from pr2.generation.finish import end_of_turn_ids, finish_ids
from pr2.generation.hf import HFGenerator
from pr2.train.policy import MergedDecoder

log = logging.getLogger(__name__)


class PolicyGenerator:
    """Generates with the model being trained (no vLLM): the same code path trains on a CPU."""

    def __init__(self, trainer, tokenizer, merged: MergedDecoder | None = None) -> None:
        """`merged`: decode with a merged copy of a LoRA policy (kept across calls by its owner); used on a CPU
        without DeepSpeed, where the copy's memory is cheap and the unmerged adapter's extra matmuls are not."""
        self.trainer, self.tokenizer, self.merged = trainer, tokenizer, merged
        self.model_name = "policy"

    def encode_prompt(self, prompt):
        return list(prompt)

    @contextmanager
    def _model(self):
        from trl.models import unwrap_model_for_generation

        model = self.trainer.model_wrapped
        was_training = model.training
        model.eval()
        try:
            with unwrap_model_for_generation(model, self.trainer.accelerator) as unwrapped:
                if self.merged is not None and _mergeable(unwrapped, self.trainer):
                    yield self.merged.get(unwrapped, self.trainer.state.global_step)
                else:
                    yield unwrapped
        finally:
            model.train(was_training)

    def turn_cache(self):
        with self._model() as model:
            return HFGenerator(model, self.tokenizer, model_name="policy").turn_cache()

    def generate(self, prompts, params: SamplingParams, **turns) -> list[Completion]:
        """`**turns`: the agent loop's `turn_cache` and `keys` (see HFGenerator.generate)."""
        with self._model() as model:
            return HFGenerator(model, self.tokenizer, model_name="policy", batch_size=len(prompts)).generate(
                prompts, params, **turns
            )


def _mergeable(model, trainer) -> bool:
    from peft import PeftModel

    on_cpu = next(model.parameters()).device.type == "cpu"
    return isinstance(model, PeftModel) and on_cpu and trainer.accelerator.state.deepspeed_plugin is None


class TRLVLLMGenerator:
    """Generates with TRL's vLLM engine (colocated `LLM` or the `trl vllm-serve` client), weights kept in sync by TRL.

    Needs vLLM (a GPU machine); not exercised by the CPU test suite.
    """

    def __init__(self, trainer, tokenizer) -> None:
        self.engine, self.tokenizer = trainer.vllm_generation, tokenizer
        self.model_name = "policy"
        self.end_ids = end_of_turn_ids(tokenizer, trainer.model.generation_config)

    def encode_prompt(self, prompt):
        return list(prompt)

    def generate(self, prompts, params: SamplingParams) -> list[Completion]:
        kwargs = {"stop": list(params.stop) or None, "include_stop_str_in_output": True}
        if self.engine.mode == "server":
            out = self.engine.vllm_client.generate(
                prompts=[list(p) for p in prompts],
                n=params.n,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                logprobs=0,
                generation_kwargs=kwargs,
            )
            ids_list, lps = out["completion_ids"], [[x[0] for x in row] for row in out["logprobs"]]
        else:
            from vllm import SamplingParams as VSamplingParams

            sp = VSamplingParams(
                n=params.n,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                logprobs=0,
                seed=params.seed,
                **kwargs,
            )
            results = self.engine.llm.generate([{"prompt_token_ids": list(p)} for p in prompts], sp, use_tqdm=False)
            outs = [o for r in results for o in r.outputs]
            ids_list = [list(o.token_ids) for o in outs]
            lps = [[step[t].logprob for step, t in zip(o.logprobs, o.token_ids, strict=True)] for o in outs]
        return [
            finish_ids(ids, tokenizer=self.tokenizer, end_ids=self.end_ids, stop=params.stop, logprobs=lp)
            for ids, lp in zip(ids_list, lps, strict=True)
        ]


def check_rollout(trajectories: Sequence[Trajectory]) -> None:
    """Ids, logprobs and mask of every completion have one entry per token (TRL would misalign them otherwise)."""
    for t in trajectories:
        n = len(t.completion_ids)
        if not (len(t.loss_mask) == len(t.completion_logprobs) == n):
            raise AssertionError(
                f"rollout of {t.question_id}: ids {n}, mask {len(t.loss_mask)}, "
                f"logprobs {len(t.completion_logprobs)} differ"
            )


def make_rollout_func(
    questions: dict[str, Question], agent_config: AgentConfig, retriever, tokenizer, recorder: list | None = None
):
    """The function TRL calls with (prompts, trainer); `recorder` (a list) receives each step's trajectories."""

    merged = MergedDecoder()

    def rollout(prompts: list, trainer) -> dict:
        try:
            batch = [questions[str(p)] for p in prompts]
        except KeyError as err:
            raise PR2Error(f"rollout: prompt {err} is not a training question id") from None
        args = trainer.args
        config = replace(agent_config, temperature=args.temperature, top_p=args.top_p, batch_size=len(batch), seed=None)
        generator = (
            TRLVLLMGenerator(trainer, tokenizer)
            if getattr(trainer, "use_vllm", False)
            else PolicyGenerator(trainer, tokenizer, merged)
        )
        trajectories = run_agent(batch, generator, config, retriever=retriever, tokenizer=tokenizer)
        check_rollout(trajectories)
        rollout.last = trajectories  # read by the trainer's rollout log, within this same step
        if recorder is not None:
            recorder.append(trajectories)
        for t in trajectories:
            if not t.completion_ids:  # TRL cannot take an empty completion: an eos stands in, masked (never sampled)
                t.segments.append(Segment("information", "", [tokenizer.eos_token_id]))
        return {
            "prompt_ids": [t.prompt_ids for t in trajectories],
            "completion_ids": [t.completion_ids for t in trajectories],
            "logprobs": [t.completion_logprobs for t in trajectories],
            "env_mask": [t.loss_mask for t in trajectories],
            # forwarded to the reward functions, one value per completion
            "answer": [t.answer for t in trajectories],
            "question_id": [t.question_id for t in trajectories],
            "searches": [len(t.searches) for t in trajectories],
            "ended": [t.ended for t in trajectories],
            "retrieved": [t.retrieved_ids for t in trajectories],
        }

    rollout.last = []
    return rollout
