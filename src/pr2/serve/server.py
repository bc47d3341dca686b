"""Build the server from command-line settings and run it with uvicorn."""

from __future__ import annotations

import logging

from pr2.agent.protocol import AgentConfig
from pr2.generation.factory import GeneratorConfig, load_generator
from pr2.serve.app import create_app
from pr2.serve.service import Answerer, ServeConfig
from pr2.serve.store import Store

log = logging.getLogger(__name__)


def build_app(
    db: str,
    generator_config: GeneratorConfig | None,
    agent: AgentConfig,
    config: ServeConfig,
    cache_answers: bool = True,
):
    """The app over database `db`, answering with `generator_config`'s model (None: posts only, no model)."""
    from pr2.data.fingerprint import model_identity
    from pr2.retrieval import load_retriever

    store = Store(db)  # create_app sets its per-user post limit from `config`
    answerer = None
    if generator_config is not None:
        generator = load_generator(generator_config)
        retriever = load_retriever(agent.retriever)
        # A second copy embeds posts in request threads while the agent worker uses the first.
        writer = load_retriever(agent.retriever) if hasattr(retriever, "embed_documents") else None
        identity = model_identity(
            generator_config.model, generator_config.backend, generator_config.base_url, generator_config.adapter
        )
        answerer = Answerer(
            store,
            generator,
            retriever,
            agent,
            generator_config.model,
            write_retriever=writer,
            identity=identity,
            cache_answers=cache_answers,
        )
    return create_app(store, answerer, config)


def wait_until_healthy(url: str, process=None, seconds: float = 180.0) -> None:
    """Wait for a `pr2 serve` at `url` to answer /healthz (a started `process` that exits first is an error)."""
    import time
    import urllib.error
    import urllib.request

    from pr2.errors import PR2Error

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise PR2Error(f"pr2 serve exited with status {process.returncode} before answering {url}/healthz")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise PR2Error(f"pr2 serve at {url} did not answer /healthz within {seconds:.0f} s")


def serve(app, host: str, port: int) -> None:
    import uvicorn

    log.warning("pr2 serve: listening on http://%s:%d (database: %s)", host, port, app.state.store.engine.dialect.name)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
