"""One row per step in OUTPUT_DIR/metrics.jsonl (besides TRL's own `report_to`): what PR² training is judged by."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback

from pr2.data.io import JsonlWriter, read_jsonl, write_text_atomic

# our column <- TRL's log key
COLUMNS = {
    "reward_mean": "rewards/personalized_reward/mean",
    "reward_std": "rewards/personalized_reward/std",
    "r_np": "rewards/r_np_baseline/mean",
    "r_minus_r_np": "pr2/r_minus_r_np",
    "searches_per_trajectory": "rewards/searches_per_trajectory/mean",
    "answer_rate": "rewards/answer_rate/mean",
    "judged_reward": "rewards/judged_reward/mean",
    "evidence_retrieved": "rewards/evidence_retrieved/mean",
    "searches_finding_evidence": "rewards/searches_finding_evidence/mean",
    "completion_length": "completions/mean_length",
    "kl": "kl",
    "entropy": "entropy",
    "loss": "loss",
    "learning_rate": "learning_rate",
    "step_seconds": "step_time",
    # Where the step's time went: rollout (agent loop + retrieval), judging, and the rest (optimisation).
    "rollout_seconds": "pr2/rollout_seconds",
    "judge_seconds": "pr2/judge_seconds",
    # Mean |trainer's logprob - sampler's logprob| over the step's sampled tokens (0 would be a perfect match).
    "sampler_logp_gap": "pr2/sampler_logp_gap",
}


class MetricsFile(TrainerCallback):
    """Appends a row per logged step. A run resumed from checkpoint N drops the rows after step N (written by the
    killed run after its last checkpoint) and writes them again as it redoes those steps."""

    def __init__(self, output_dir: str | Path) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or not self.path.exists():
            return
        rows = read_jsonl(self.path)  # a torn last line is left out (JsonlWriter cuts it on open); a damaged middle
        kept = [r for r in rows if isinstance(r.get("step"), int) and r["step"] <= state.global_step]  # one: error
        if len(kept) != len(rows):
            write_text_atomic(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero or "rewards/personalized_reward/mean" not in logs:
            return
        with JsonlWriter(self.path, key="step") as writer:
            if str(state.global_step) in writer.done:
                return
            row = {"step": state.global_step}
            row.update({ours: logs.get(theirs) for ours, theirs in COLUMNS.items()})
            writer.write(row)
