"""One row per step in OUTPUT_DIR/metrics.jsonl (besides TRL's own `report_to`): what PR² training is judged by."""

from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback

from pr2.data.io import JsonlWriter

# our column <- TRL's log key
COLUMNS = {
    "reward_mean": "rewards/personalized_reward/mean",
    "reward_std": "rewards/personalized_reward/std",
    "r_minus_r_np": "rewards/r_minus_r_np/mean",
    "searches_per_trajectory": "rewards/searches_per_trajectory/mean",
    "answer_rate": "rewards/answer_rate/mean",
    "completion_length": "completions/mean_length",
    "kl": "kl",
    "entropy": "entropy",
    "loss": "loss",
    "learning_rate": "learning_rate",
}


class MetricsFile(TrainerCallback):
    """Appends a row per logged step; a resumed run skips steps already written."""

    def __init__(self, output_dir: str | Path, rollout=None, rewards=None) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self.rollout, self.rewards = rollout, rewards

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero or "rewards/personalized_reward/mean" not in logs:
            return
        with JsonlWriter(self.path, key="step") as writer:
            if str(state.global_step) in writer.done:
                return
            row = {"step": state.global_step}
            row.update({ours: logs.get(theirs) for ours, theirs in COLUMNS.items()})
            # Where the step's time went: rollout (agent loop + retrieval), judging, and the rest (optimisation).
            row["step_seconds"] = logs.get("step_time")
            row["rollout_seconds"] = getattr(self.rollout, "last_seconds", None)
            row["judge_seconds"] = getattr(self.rewards, "last_judge_seconds", None)
            writer.write(row)
