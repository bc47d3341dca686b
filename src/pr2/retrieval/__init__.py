"""Ranking a user's own profile against a query: BM25, Contriever-style and sentence-transformers encoders."""

from pr2.retrieval.base import Retriever, SearchIndex, rank_order
from pr2.retrieval.index import ProfileIndex
from pr2.retrieval.registry import load_retriever

__all__ = ["ProfileIndex", "Retriever", "SearchIndex", "load_retriever", "rank_order"]
