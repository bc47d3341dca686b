import re

from pr2.data import CATEGORIES, SPLITS, sample_questions


def test_sample_covers_every_category_and_split_and_is_marked_synthetic():
    qs = sample_questions()
    assert len(qs) >= 18
    assert {(q.category, q.split) for q in qs} == {(c, s) for c in CATEGORIES for s in SPLITS}
    assert all(q.extra.get("synthetic") is True for q in qs)
    assert len({q.id for q in qs}) == len(qs)


def test_sample_questions_have_narrative_aspects_and_mixed_profiles():
    for q in sample_questions():
        assert q.narrative
        assert 3 <= len(q.rubric_aspects) <= 6
        assert 15 <= len(q.profile) <= 80
        relevant = set(q.extra["relevant_profile_ids"])
        ids = [p.id for p in q.profile]
        assert relevant < set(ids), q.id  # only some posts are relevant
        assert set(ids[: len(relevant)]) != relevant  # not simply listed first: ranking has work to do


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3}


def test_relevant_posts_hold_the_evidence_of_the_aspects():
    # Each aspect's evidence shares content words with the user's relevant posts more than with the off-topic ones:
    # the profile is what makes a personalized answer better than a generic one.
    for q in sample_questions():
        relevant = set(q.extra["relevant_profile_ids"])
        rel_words = set().union(*(_words(p.text) for p in q.profile if p.id in relevant))
        other = [p for p in q.profile if p.id not in relevant]
        covered = sum(bool(_words(a.evidence + " " + a.aspect) & rel_words) for a in q.rubric_aspects)
        assert covered == len(q.rubric_aspects), q.id
        assert len(other) >= 10
