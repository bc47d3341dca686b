"""Build the server from command-line settings and run it with uvicorn."""

from __future__ import annotations

import logging

from pr2.agent.protocol import AgentConfig
from pr2.generation.factory import GeneratorConfig, load_generator
from pr2.serve.app import create_app
from pr2.serve.service import Answerer, ServeConfig
from pr2.serve.store import Store

log = logging.getLogger(__name__)


def build_app(db: str, generator_config: GeneratorConfig | None, agent: AgentConfig, config: ServeConfig):
    """The app over database `db`, answering with `generator_config`'s model (None: posts only, no model)."""
    from pr2.data.fingerprint import model_identity
    from pr2.retrieval import load_retriever

    store = Store(db)
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
            store, generator, retriever, agent, generator_config.model, write_retriever=writer, identity=identity
        )
    return create_app(store, answerer, config)


def serve(app, host: str, port: int) -> None:
    import uvicorn

    log.warning("pr2 serve: listening on http://%s:%d (database: %s)", host, port, app.state.store.engine.dialect.name)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
