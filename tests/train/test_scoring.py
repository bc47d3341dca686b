"""The GRPO loss's scores computed without waste (train/scoring.py) equal TRL's own, position for position and in
their gradients, while the LM head sees only the positions the loss reads."""

from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch
from trl import GRPOTrainer
from trl.trainer.utils import add_fused_lm_head

from pr2.train.scoring import compact_head_on_cpu, score_counted


@pytest.fixture
def batch(tiny_llama_dir):
    """Six episodes as TRL lays them out: prompts left-padded, completions right-padded to the longest of all, and
    an inserted stretch (tool mask 0) inside two completions."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    add_fused_lm_head(model, temperature=0.7, outputs=("log_probs", "entropy"))
    prompt_lengths, completion_lengths = [5, 9, 3, 9, 7, 4], [12, 3, 20, 7, 1, 16]
    width_p, width_c = max(prompt_lengths), max(completion_lengths)
    vocab = model.config.vocab_size
    ids = torch.randint(3, vocab, (6, width_p + width_c))
    mask = torch.zeros_like(ids)
    for row, (p, c) in enumerate(zip(prompt_lengths, completion_lengths, strict=True)):
        mask[row, width_p - p : width_p + c] = 1
    ids = ids.masked_fill(mask == 0, 0)
    tool = torch.ones(6, width_c, dtype=torch.long)
    tool[0, 4:9], tool[2, 2:15] = 0, 0
    counted = mask[:, width_p:] * tool
    return model, ids, mask, width_c, counted


def trl_scores(model, ids, mask, keep, batch_size):
    accelerator = SimpleNamespace(autocast=nullcontext, is_main_process=True)
    trainer = SimpleNamespace(accelerator=accelerator, args=SimpleNamespace(report_to=[]))
    logps, entropies, _ = GRPOTrainer._get_per_token_logps_and_entropies(
        trainer, model, ids, mask, keep, batch_size, compute_entropy=True
    )
    return logps, entropies


def test_scores_and_gradients_equal_trls_where_the_loss_reads_them(batch):
    model, ids, mask, keep, counted = batch
    reference, ref_entropy = trl_scores(model, ids, mask, keep, batch_size=2)
    (reference * counted).sum().backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with compact_head_on_cpu():
        logps, entropy = score_counted(model, ids, mask, keep, 2, counted, compute_entropy=True)
    (logps * counted).sum().backward()
    on = counted.bool()
    torch.testing.assert_close(logps[on], reference[on], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(entropy[on], ref_entropy[on], atol=1e-5, rtol=1e-5)
    assert (logps[~on] == 0).all() and (entropy[~on] == 0).all()  # nothing scored where the loss reads nothing
    for got, want in zip((p.grad for p in model.parameters()), expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_the_head_scores_only_the_counted_positions_in_chunks_cut_to_their_rows(batch, monkeypatch):
    import trl.trainer.utils as trl_utils

    model, ids, mask, keep, counted = batch
    seen, widths = [], []
    apply = trl_utils._ChunkedLogProbFunction.apply
    monkeypatch.setattr(
        trl_utils._ChunkedLogProbFunction,
        "apply",
        lambda hidden, *rest: seen.append(hidden.shape[0]) or apply(hidden, *rest),
    )
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda **kw: widths.append(kw["input_ids"].shape) or forward(**kw))
    with compact_head_on_cpu():
        score_counted(model, ids, mask, keep, 2, counted)
    assert sum(seen) == int(counted.sum())  # TRL alone: every position of every row, 6 x (9 + 20 - 1)
    # rows by length: (3+20, 4+16), (5+12, 9+7), (9+3, 7+1); each chunk as wide as its own longest row
    assert widths == [torch.Size([2, 4 + 20]), torch.Size([2, 9 + 12]), torch.Size([2, 9 + 3])]
    assert trl_utils._use_triton(torch.device("cpu")) is False  # the gate is given back


def test_micro_batches_are_regrouped_by_length_with_each_episode_whole():
    from trl.trainer.utils import split_tensor_dict

    from pr2.train.scoring import regroup_by_length

    lengths = torch.tensor([3, 9, 1, 7, 5, 2, 8, 4])  # real completion tokens of 8 episodes
    width = int(lengths.max())
    completion_mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
    batch = {
        "prompt_mask": torch.ones(8, 2, dtype=torch.long),
        "completion_mask": completion_mask,
        "completion_ids": completion_mask * torch.arange(8)[:, None],  # each row carries its own number
        "advantages": torch.arange(8, dtype=torch.float),
        "names": [f"episode {i}" for i in range(8)],
        "num_items_in_batch": torch.tensor(int(lengths.sum())),
        "old_per_token_logps": None,
    }
    regrouped = regroup_by_length(split_tensor_dict(batch, 4))
    assert [b["completion_mask"].sum(dim=1).tolist() for b in regrouped] == [[9, 8], [7, 5], [4, 3], [2, 1]]
    for b in regrouped:
        numbers = b["advantages"].long().tolist()
        assert b["names"] == [f"episode {i}" for i in numbers]
        assert b["completion_ids"].max(dim=1).values.tolist() == numbers  # ids travelled with their episode
        assert int(b["num_items_in_batch"]) == int(lengths.sum()) and b["old_per_token_logps"] is None
