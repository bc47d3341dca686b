"""ProfileIndex: what the agent searches. Built once per question from that user's profile only."""

from __future__ import annotations

from collections.abc import Collection

from pr2.data.schema import ProfileItem
from pr2.retrieval.base import Retriever, SearchIndex, rank_order


class ProfileIndex:
    """Document embeddings (or the BM25 index) are computed once here; `search` only encodes the query."""

    def __init__(
        self, profile: list[ProfileItem], retriever: Retriever | None, prepared: SearchIndex | None = None
    ) -> None:
        """`prepared`: an index already built over `profile`'s texts, in order (e.g. from stored embeddings)."""
        self.items = list(profile)
        if not self.items:
            self._index = None
        elif prepared is not None:
            self._index = prepared
        else:
            self._index = retriever.index([item.text for item in self.items])

    def __len__(self) -> int:
        return len(self.items)

    def search(self, query: str, k: int, exclude: Collection[str] = ()) -> list[ProfileItem]:
        """The top-k items for `query` whose ids are not in `exclude` (ties in profile order)."""
        if self._index is None or k <= 0:
            return []
        hits = []
        for i in rank_order(self._index.scores(query)):
            if self.items[i].id not in exclude:
                hits.append(self.items[i])
                if len(hits) == k:
                    break
        return hits
