"""ProfileIndex: what the agent searches. Built once per question from that user's profile only."""

from __future__ import annotations

from collections.abc import Callable, Collection

from pr2.data.schema import ProfileItem
from pr2.retrieval.base import Retriever, SearchIndex, rank_order


class ProfileIndex:
    """Document embeddings (or the BM25 index) are computed once here; `search` only encodes the query."""

    def __init__(
        self,
        profile: list[ProfileItem],
        retriever: Retriever | None,
        prepared: SearchIndex | None = None,
        fetch: Callable[[list[str]], dict[str, str]] | None = None,
    ) -> None:
        """`prepared`: an index already built over `profile`'s texts, in order (e.g. from stored embeddings).
        `fetch` (ids -> texts): the items' texts are not held, not even after a search; each search fetches the
        texts of its hits only (pr2 serve reads a profile's embeddings, not every post, and a kept index must hold no
        text a user may delete), and a hit whose text is gone by then (deleted) is left out."""
        self.items = list(profile)
        self.fetch = fetch
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
        ranked = (i for i in rank_order(self._index.scores(query)) if self.items[i].id not in exclude)
        while len(hits) < k:
            batch = [i for _, i in zip(range(k - len(hits)), ranked, strict=False)]
            if not batch:
                break
            if self.fetch is None:
                hits.extend(self.items[i] for i in batch)
                continue
            texts = self.fetch([self.items[i].id for i in batch])
            # a hit gone since the index was built is left out
            hits.extend(
                ProfileItem(self.items[i].id, texts[self.items[i].id]) for i in batch if self.items[i].id in texts
            )
        return hits
