"""pr2: personalized question answering that learns to reason over and retrieve from a user's own history (PR²)."""

from importlib.metadata import PackageNotFoundError, version

from pr2.errors import PR2Error

try:  # one place for the version: pyproject.toml, as installed
    __version__ = version("pr2")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
__all__ = ["PR2Error", "__version__"]
