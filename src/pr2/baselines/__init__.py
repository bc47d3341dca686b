"""The baselines PR² is compared with: no personalization, RAG, PlanPers."""

from pr2.baselines.methods import METHODS, BaselineConfig, BaselineOutput, run_baseline

__all__ = ["METHODS", "BaselineConfig", "BaselineOutput", "run_baseline"]
