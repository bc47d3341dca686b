"""Keep secrets out of everything pr2 writes or prints: API keys, `user:pass@` in URLs, `Authorization` headers.

`redact` is applied where text leaves the process (one-line errors, log records, saved configs, fingerprints),
so a key given in a URL or read from `$OPENAI_API_KEY` never reaches a terminal, a log or a run folder.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

MASK = "***"

_PATTERNS = [
    # scheme://user:password@host  ->  scheme://***@host  (the user name alone can identify an account too)
    (re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@"), r"\g<scheme>" + MASK + "@"),
    # Authorization: Bearer xxx / Basic xxx, as a header line or a repr of a headers dict
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer|basic|token)?\s*[^\s'\",}]+"), r"\1\2 " + MASK),
    # credentials after their scheme anywhere (a server's error text quoting the header back)
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9+/=._~-]{8,}"), r"\1 " + MASK),
    # api_key=..., "api_key": "...", x-api-key: ...
    (
        re.compile(r"(?i)((?:api[_-]?key|x-api-key|access[_-]?token|secret)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"),
        r"\1" + MASK,
    ),
    # Well-known key shapes: OpenAI/Anthropic-style sk-..., Hugging Face hf_..., pr2 serve's pr2_<id>_...
    (re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{16,}|pr2_[0-9a-f]{12}_[A-Za-z0-9_-]{16,})"), MASK),
]

_KEY_ENV = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_known: set[str] = set()


def register(secret: str) -> str:
    """Remember a secret read from elsewhere (an API key file) so that its literal value is redacted too."""
    if len(secret) >= 6 and secret != "EMPTY":
        _known.add(secret)
    return secret


def _literal_secrets() -> list[str]:
    found = {v for v in (os.environ.get(name, "") for name in _KEY_ENV) if len(v) >= 6 and v != "EMPTY"}
    return sorted(found | _known, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every secret it holds replaced by ***: the patterns above, and the literal values of the API
    key variables of this environment and of keys read from files (a key of any shape)."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    for secret in _literal_secrets():
        text = text.replace(secret, MASK)
    return text


def redact_value(value: Any) -> Any:
    """Redact the strings inside a JSON-like value (what a saved config or fingerprint holds)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's final message (attach it to a handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def redact_logging() -> None:
    """Attach the filter to every handler of the root logger (after logging.basicConfig)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def redact_tracebacks() -> None:
    """Print uncaught exceptions (a library's own error text may quote a URL or a header) redacted."""
    import sys
    import traceback

    def hook(kind, value, tb) -> None:
        sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))

    sys.excepthook = hook
