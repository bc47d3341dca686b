"""The LaMP-QA record types. Unknown fields are kept in `extra` so a load/save round trip changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pr2.errors import PR2Error


@dataclass(frozen=True)
class ProfileItem:
    """One earlier post of the user: its id and its text (title followed by body)."""

    id: str
    text: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, **self.extra}


@dataclass(frozen=True)
class Aspect:
    """One thing this user expects from an answer, extracted from their narrative."""

    aspect: str
    reason: str
    evidence: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_record(self) -> dict[str, Any]:
        return {"aspect": self.aspect, "reason": self.reason, "evidence": self.evidence, **self.extra}


@dataclass
class Question:
    """A LaMP-QA question: the post title, the user's narrative, their profile and the rubric aspects."""

    id: str
    question: str
    narrative: str
    profile: list[ProfileItem]
    rubric_aspects: list[Aspect]
    category: str | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Whether category/split were read from the record (written back) or inferred from the file name (not).
    _written_keys: frozenset[str] = field(default_factory=frozenset, repr=False, compare=False)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "narrative": self.narrative,
            "profile": [item.to_record() for item in self.profile],
            "rubric_aspects": [aspect.to_record() for aspect in self.rubric_aspects],
        }
        for key in ("category", "split"):
            value = getattr(self, key)
            if value is not None and key in self._written_keys:
                record[key] = value
        record.update(self.extra)
        return record

    def with_profile(self, profile: list[ProfileItem]) -> Question:
        """A copy of this question with another profile (e.g. sorted by relevance)."""
        return Question(
            self.id,
            self.question,
            self.narrative,
            profile,
            self.rubric_aspects,
            self.category,
            self.split,
            dict(self.extra),
            self._written_keys,
        )

    def tagged(self) -> Question:
        """A copy that writes its category and split into the record (for combined, prepared files)."""
        copy = self.with_profile(self.profile)
        copy._written_keys = frozenset({"category", "split"})
        return copy


_QUESTION_KEYS = ("id", "question", "narrative", "profile", "rubric_aspects", "category", "split")


class RecordError(PR2Error):
    pass


def _where(source: str, index: int, record_id: str | None) -> str:
    rid = f" (id {record_id!r})" if record_id is not None else ""
    return f"{source}: record {index}{rid}"


def _text_field(value: Any, where: str, name: str, *, allow_number: bool = False) -> str:
    if isinstance(value, str):
        return value
    if allow_number and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    kind = "missing" if value is None else f"must be a string, got {type(value).__name__}"
    raise RecordError(f"{where}: field {name!r} {kind}")


def question_from_record(
    record: Any, source: str, index: int, *, category: str | None = None, split: str | None = None
) -> Question:
    """Build a Question from one JSON record, raising PR2Error that names the file, record and field."""
    if not isinstance(record, dict):
        raise RecordError(f"{_where(source, index, None)}: must be a JSON object, got {type(record).__name__}")
    raw_id = record.get("id")
    qid = str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else None
    where = _where(source, index, qid)
    _text_field(raw_id, where, "id", allow_number=True)
    question = _text_field(record.get("question"), where, "question")
    narrative = _text_field(record.get("narrative"), where, "narrative")

    profile_raw = record.get("profile")
    if not isinstance(profile_raw, list):
        kind = "missing" if profile_raw is None else f"must be a list, got {type(profile_raw).__name__}"
        raise RecordError(f"{where}: field 'profile' {kind}")
    profile = []
    for j, item in enumerate(profile_raw):
        if not isinstance(item, dict):
            raise RecordError(f"{where}: field 'profile[{j}]' must be an object, got {type(item).__name__}")
        pid = _text_field(item.get("id"), where, f"profile[{j}].id", allow_number=True)
        text = _text_field(item.get("text"), where, f"profile[{j}].text")
        extra = {k: v for k, v in item.items() if k not in ("id", "text")}
        profile.append(ProfileItem(pid, text, extra))

    aspects_raw = record.get("rubric_aspects", [])
    if not isinstance(aspects_raw, list):
        raise RecordError(f"{where}: field 'rubric_aspects' must be a list, got {type(aspects_raw).__name__}")
    aspects = []
    for j, item in enumerate(aspects_raw):
        if not isinstance(item, dict):
            raise RecordError(f"{where}: field 'rubric_aspects[{j}]' must be an object, got {type(item).__name__}")
        fields = [_text_field(item.get(k), where, f"rubric_aspects[{j}].{k}") for k in ("aspect", "reason", "evidence")]
        extra = {k: v for k, v in item.items() if k not in ("aspect", "reason", "evidence")}
        aspects.append(Aspect(*fields, extra=extra))

    written = set()
    for key in ("category", "split"):
        if key in record:
            _text_field(record[key], where, key)
            written.add(key)
    extra = {k: v for k, v in record.items() if k not in _QUESTION_KEYS}
    return Question(
        id=qid,  # type: ignore[arg-type]  # checked by _text_field above
        question=question,
        narrative=narrative,
        profile=profile,
        rubric_aspects=aspects,
        category=record.get("category", category),
        split=record.get("split", split),
        extra=extra,
        _written_keys=frozenset(written),
    )
