"""The baselines PR² is compared with: no personalization, RAG, PlanPers."""

from pr2.baselines.methods import METHODS, BaselineConfig, BaselineOutput, run_baseline
from pr2.baselines.run import run_baseline_file

__all__ = ["METHODS", "BaselineConfig", "BaselineOutput", "run_baseline", "run_baseline_file"]
