"""Rollouts decode with a merged copy of the LoRA policy (train/policy.py MergedDecoder): the copy gives the
policy's logits, follows each optimizer step, and the trained model's base weights are never touched."""

import torch

from pr2.train.policy import MergedDecoder


def _lora_policy(tiny_llama_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], task_type="CAUSAL_LM")
    policy = get_peft_model(base, config)
    for name, param in policy.named_parameters():
        if "lora_B" in name:  # a trained adapter, not peft's zero start
            param.data.normal_(0, 0.05)
    return policy


def test_the_merged_copy_decodes_as_the_policy_and_follows_each_optimizer_step(tiny_llama_dir):
    policy = _lora_policy(tiny_llama_dir)
    base_before = {n: p.detach().clone() for n, p in policy.named_parameters() if "lora_" not in n}
    ids = torch.randint(3, policy.config.vocab_size, (2, 12))
    merged = MergedDecoder()
    with torch.no_grad():
        torch.testing.assert_close(merged.get(policy, 0)(ids).logits, policy(ids).logits, atol=1e-4, rtol=1e-4)
        step_0 = merged.get(policy, 0)(ids).logits
    optimizer = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=0.5)
    policy(ids).logits.square().mean().backward()
    optimizer.step()
    with torch.no_grad():
        stale = merged.get(policy, 0)(ids).logits  # the same step: no refresh
        torch.testing.assert_close(stale, step_0)
        fresh, trained = merged.get(policy, 1)(ids).logits, policy(ids).logits
    assert not torch.allclose(trained, step_0, atol=1e-3)  # the step changed the policy...
    torch.testing.assert_close(fresh, trained, atol=1e-4, rtol=1e-4)  # ...and the copy followed it
    for name, param in policy.named_parameters():
        if "lora_" not in name:
            assert torch.equal(param, base_before[name]), name  # the frozen base never merged in place
