"""The agent settings a trained adapter carries: `pr2 train` writes them next to the adapter (pr2-agent.json), so
`pr2 run --adapter DIR` (and PR2.py) runs the policy exactly as it was trained unless a flag overrides a setting."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pr2.agent.protocol import AgentConfig
from pr2.errors import PR2Error

AGENT_FILE = "pr2-agent.json"
# How a trained policy is run, not how it was sampled during training (TRL's temperature stays TRL's).
_NOT_CARRIED = {"temperature", "top_p", "seed", "batch_size"}


def save_agent_settings(folder: str | Path, config: AgentConfig) -> Path:
    from pr2.data.io import write_json_atomic

    path = Path(folder) / AGENT_FILE
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_CARRIED}
    write_json_atomic(path, settings)
    return path


def trained_settings(adapter: str | Path | None) -> dict:
    """The settings an adapter folder carries (empty for none, or for an adapter not made by pr2 train)."""
    if not adapter:
        return {}
    path = Path(adapter) / AGENT_FILE
    if not path.exists():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PR2Error(f"{path}: damaged ({' '.join(str(err).split())})") from None
    fields = {f.name for f in dataclasses.fields(AgentConfig)}
    unknown = sorted(set(settings) - fields)
    if not isinstance(settings, dict) or unknown:
        raise PR2Error(f"{path}: field {unknown[0] if unknown else '?'!r} is not an agent setting")
    return settings


def agent_config_for(adapter: str | Path | None, given: dict) -> AgentConfig:
    """AgentConfig defaults, then what the adapter was trained with, then what the user gave."""
    return AgentConfig(**{**trained_settings(adapter), **given})
