"""pr2: personalized question answering that learns to reason over and retrieve from a user's own history (PR²)."""

from pr2.errors import PR2Error

__version__ = "0.1.0"
__all__ = ["PR2Error", "__version__"]
