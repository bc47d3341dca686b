"""Each recorded GRPO step's groups, for `pr2 view`: OUTPUT_DIR/rollouts.jsonl, one line per group.

A line: step, question id and text, and every trajectory of the group (its segments, searches, retrieved ids,
answer, how it ended) with its reward, r_np, the judge's part and its advantage. Bounded by the training config
(`log_rollouts_every`, `log_rollout_groups`). A resumed run drops lines of steps past its checkpoint, as metrics do.
"""

from __future__ import annotations

import json
from pathlib import Path

from pr2.data.io import JsonlWriter, read_jsonl, write_text_atomic
from pr2.train.reward import JUDGED, PERSONALIZED, R_NP, column


class RolloutLog:
    def __init__(self, path: Path, questions: dict, every: int, groups: int, columns, resumed_at: int = 0) -> None:
        self.path, self.questions, self.every, self.groups = Path(path), questions, every, groups
        self.index = {name: column(columns, name) for name in (PERSONALIZED, R_NP, JUDGED)}
        if self.path.exists():  # steps a killed run logged past its last checkpoint are redone: drop them
            kept = [r for r in read_jsonl(self.path, skip_damaged=True) if int(r.get("step", 0)) <= resumed_at]
            write_text_atomic(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))

    def write(self, step: int, trajectories, columns: list[list[float]], advantages: list[float], size: int) -> None:
        if step % self.every or not trajectories:
            return
        with JsonlWriter(self.path, key="key") as writer:
            for g, start in enumerate(range(0, len(trajectories), size)):
                if g >= self.groups:
                    break
                group = trajectories[start : start + size]
                q = self.questions.get(group[0].question_id)
                episodes = []
                for i, t in enumerate(group, start=start):
                    row = t.to_record()
                    episodes.append({
                        "segments": [{"kind": s["kind"], "text": s["text"]} for s in row["segments"]],
                        "searches": row["searches"], "retrieved_ids": row["retrieved_ids"], "answer": row["answer"],
                        "ended": row["ended"], "retrieved": [],
                        "reward": columns[i][self.index[PERSONALIZED]], "r_np": columns[i][self.index[R_NP]],
                        "judged": columns[i][self.index[JUDGED]],
                        "advantage": advantages[i],
                    })  # fmt: skip
                writer.write(
                    {
                        "key": f"{step}/{g}",
                        "step": step,
                        "question_id": group[0].question_id,
                        "question": q.question if q is not None else "",
                        "episodes": episodes,
                    }
                )
