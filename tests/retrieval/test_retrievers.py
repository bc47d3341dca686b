import math
import re

import numpy as np
import pytest
import torch

from pr2.data import ProfileItem, sample_questions
from pr2.errors import PR2Error
from pr2.retrieval import ProfileIndex, load_retriever, rank_order

DOCS = [
    "Watercolor paper buckles when wet; cotton paper holds washes better.",
    "My car squeals when turning in cold weather.",
    "Blooms appear in watercolor washes when paper is half dry.",
    "The the the and of",  # only stop words
    "Best running shoes for flat feet and knee pain.",
    "Watercolor paper buckles when wet; cotton paper holds washes better.",  # duplicate of 0
]
QUERY = "how to avoid blooms in watercolor washes on cheap paper"


def test_rank_order_breaks_ties_by_profile_order():
    assert rank_order(np.array([1.0, 3.0, 3.0, 0.0, 3.0])) == [1, 2, 4, 0, 3]


def _bm25_by_hand(query_tokens, doc_tokens, k1=1.5, b=0.75):
    n = len(doc_tokens)
    avgdl = sum(len(d) for d in doc_tokens) / n
    scores = []
    for d in doc_tokens:
        s = 0.0
        for t in set(query_tokens):
            df = sum(t in dd for dd in doc_tokens)
            if df == 0 or t not in d:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = d.count(t)
            s += idf * tf / (tf + k1 * (1 - b + b * len(d) / avgdl))  # Lucene drops the (k1 + 1) factor
        scores.append(s)
    return np.array(scores)


def test_bm25_matches_brute_force_lucene_formula():
    import bm25s
    import Stemmer

    stem = Stemmer.Stemmer("english")
    tok = lambda texts: bm25s.tokenize(texts, stopwords="en", stemmer=stem, return_ids=False, show_progress=False)  # noqa: E731
    expected = _bm25_by_hand(tok([QUERY])[0], tok(DOCS))
    got = load_retriever("bm25").score_many([QUERY], [DOCS])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert rank_order(got)[:3] == [2, 0, 5]  # duplicates tie and keep profile order
    # stop words only: nothing relevant, all zero, original order
    assert load_retriever("bm25").score_many(["the of and"], [DOCS])[0].tolist() == [0.0] * len(DOCS)


def _mean_pool_by_hand(model_dir, texts):
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(model_dir), AutoModel.from_pretrained(model_dir).eval()
    rows = []
    with torch.no_grad():
        for t in texts:  # one at a time: no padding at all
            enc = tok(t, return_tensors="pt", truncation=True, max_length=512)
            rows.append(model(**enc).last_hidden_state[0].mean(dim=0))
    return torch.stack(rows)


def test_contriever_style_matches_brute_force(tiny_encoder_dir):
    retriever = load_retriever(str(tiny_encoder_dir), batch_size=4)
    got = retriever.score_many([QUERY, "car noise"], [DOCS, DOCS[:3]])
    emb = _mean_pool_by_hand(tiny_encoder_dir, [QUERY, "car noise", *DOCS])
    for i, n in ((0, len(DOCS)), (1, 3)):
        expected = (emb[i] @ emb[2 : 2 + n].T).numpy()
        np.testing.assert_allclose(got[i], expected, rtol=1e-4, atol=1e-4)
        assert rank_order(got[i]) == rank_order(expected)


def test_sentence_transformers_uses_its_own_similarity():
    from sentence_transformers import SentenceTransformer

    from pr2.retrieval.registry import bundled_minilm_path

    model = SentenceTransformer(str(bundled_minilm_path()), device="cpu")
    assert model.similarity_fn_name == "cosine"
    got = load_retriever("minilm").score_many([QUERY], [DOCS])[0]
    rows = [model.encode(t, convert_to_tensor=True) for t in [QUERY, *DOCS]]
    expected = torch.nn.functional.cosine_similarity(rows[0][None], torch.stack(rows[1:])).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert rank_order(got)[:3] == [2, 0, 5]


def test_very_long_documents_are_truncated_not_fatal(tiny_encoder_dir):
    long_doc = " ".join(["watercolor"] * 5000)
    for name in ("bm25", "minilm", str(tiny_encoder_dir)):
        scores = load_retriever(name).score_many([QUERY], [[long_doc, DOCS[1]]])[0]
        assert scores.shape == (2,) and np.isfinite(scores).all()


def test_profile_index_searches_only_its_profile_and_honours_exclude():
    q = next(q for q in sample_questions("test") if q.id == "ae-5")
    index = ProfileIndex(q.profile, load_retriever("minilm"))
    hits = index.search("red stage lights at concerts", k=3)
    assert len(hits) == 3 and all(h.id.startswith("ae-5-") for h in hits)
    assert "Red LED stage lights" in hits[0].text
    again = index.search("red stage lights at concerts", k=3, exclude={h.id for h in hits})
    assert not {h.id for h in again} & {h.id for h in hits}


def test_profile_index_encodes_only_the_query_per_search(monkeypatch):
    retriever = load_retriever("minilm")
    index = ProfileIndex([ProfileItem(str(i), d) for i, d in enumerate(DOCS)], retriever)
    calls = []
    original = retriever.encoder.encode
    monkeypatch.setattr(retriever.encoder, "encode", lambda texts: calls.append(list(texts)) or original(texts))
    index.search("blooms", k=2)
    index.search("car", k=2)
    assert calls == [["blooms"], ["car"]]


@pytest.mark.parametrize("name", ["bm25", "minilm"])
def test_empty_profile_returns_nothing(name):
    retriever = load_retriever(name)
    assert ProfileIndex([], retriever).search("anything", k=3) == []
    assert retriever.score_many(["q", "r"], [[], ["doc"]])[0].shape == (0,)


def test_bad_model_name_is_one_line_error(tmp_path):
    with pytest.raises(PR2Error, match=r"local path .*nope does not exist"):
        load_retriever(str(tmp_path / "nope"))
    with pytest.raises(PR2Error, match=r"cannot load retrieval model 'no-such-org/no-such-model'") as info:
        load_retriever("no-such-org/no-such-model")
    assert "\n" not in str(info.value)
    with pytest.raises(PR2Error, match="unknown dtype"):
        load_retriever("minilm", dtype="int3")
    assert re.search("bm25", str(info.value))
