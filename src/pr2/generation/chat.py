"""Chat templating that also works for templates rejecting a system role (Gemma): fold it into the first user turn."""

from __future__ import annotations

from pr2.errors import PR2Error, first_line
from pr2.generation.base import Message, Prompt, is_chat


def fold_system(messages: list[Message]) -> list[Message]:
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], list(messages[1:])
    if rest and rest[0]["role"] == "user":
        rest[0] = {"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}
    else:
        rest.insert(0, {"role": "user", "content": system})
    return rest


def _templated(tokenizer, messages: list[Message], *, add_generation_prompt: bool, tokenize: bool):
    try:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=tokenize)
    except Exception as err:  # jinja2 TemplateError from templates that raise on a system role
        if messages and messages[0]["role"] == "system" and "system" in str(err).lower():
            return tokenizer.apply_chat_template(
                fold_system(messages), add_generation_prompt=add_generation_prompt, tokenize=tokenize
            )
        raise


def apply_chat_template(tokenizer, messages: list[Message], *, add_generation_prompt: bool = True) -> list[int]:
    """Token ids of the templated conversation (system text folded into the user turn when the template refuses it)."""
    ids = _templated(tokenizer, messages, add_generation_prompt=add_generation_prompt, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # transformers 5 may return a BatchEncoding
        ids = ids["input_ids"]
    return list(ids)


def chat_text(tokenizer, messages: list[Message]) -> str:
    """The templated conversation as text, ready for the assistant's turn (the same system-role folding)."""
    return _templated(tokenizer, messages, add_generation_prompt=True, tokenize=False)


def tokenizer_of(generator, why: str):
    """The generator's tokenizer, else the one its model name loads; `why` says what needs it in the error."""
    tokenizer = getattr(generator, "tokenizer", None)
    if tokenizer is not None:
        return tokenizer
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(generator.model_name)
    except Exception as err:
        raise PR2Error(
            f"{why} needs the tokenizer of model {generator.model_name!r}; it could not be loaded: {first_line(err)}"
        ) from None


def encode_prompt(tokenizer, prompt: Prompt) -> list[int]:
    """Token ids of any prompt: chat messages are templated, text is tokenized as is, ids pass through."""
    if is_chat(prompt):
        return apply_chat_template(tokenizer, prompt)  # type: ignore[arg-type]
    if isinstance(prompt, str):
        return tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return list(prompt)  # type: ignore[arg-type]
