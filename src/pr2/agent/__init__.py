"""The PR² agent: think, search the user's own profile, read, answer."""

from pr2.agent.loop import run_agent
from pr2.agent.protocol import AgentConfig
from pr2.agent.trajectory import Segment, Trajectory

__all__ = ["AgentConfig", "Segment", "Trajectory", "run_agent"]
