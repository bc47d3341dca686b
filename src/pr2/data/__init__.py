"""LaMP-QA data: the schema, loading and validation, atomic and resumable writers, the Hub download, the sample."""

from pr2.data.io import JsonlWriter, load_questions, read_jsonl_ids, write_json_atomic, write_questions
from pr2.data.lamp_qa import CATEGORIES, SPLITS, filter_questions
from pr2.data.sample import sample_path, sample_questions
from pr2.data.schema import Aspect, ProfileItem, Question

__all__ = [
    "CATEGORIES",
    "SPLITS",
    "Aspect",
    "JsonlWriter",
    "ProfileItem",
    "Question",
    "filter_questions",
    "load_questions",
    "read_jsonl_ids",
    "sample_path",
    "sample_questions",
    "write_json_atomic",
    "write_questions",
]
