"""Training PR² with GRPO on TRL: multi-turn rollouts with retrieval, the personalized reward, the PR² baseline."""

from pr2.train.advantage import nonpersonalized_advantages
from pr2.train.config import TrainConfig, load_train_config

__all__ = ["TrainConfig", "load_train_config", "nonpersonalized_advantages"]
