"""Find the JSON object in an answer as models write it: bare JSON, JSON in a code fence, JSON after prose or
after a `<think>…</think>` reasoning block (reasoning models behind OpenAI-compatible servers), or JSON followed by
a remark. Several objects that carry a label count only when they agree; a refusal in words is named as such."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from evalharness.errors import JudgeOutputError, NoLabel

_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.I)
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.I | re.S)
_THINK_CLOSE = re.compile(r"</(think|thinking|reasoning)>", re.I)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)
_REFUSAL = re.compile(r"^\W*(i'?m sorry|i am sorry|sorry,|i can(?:no|')t|i am unable|i'?m unable|i won'?t|i will not|"
                      r"as an ai\b|i must decline|i'?m not able)", re.I)
_WORD = re.compile(r"^[\w '\".-]{1,40}$")  # a bare label: a few words, no JSON punctuation
_DECODER = json.JSONDecoder()


@dataclass
class Found:
    """The answer's object (None when the answer is a bare word: `word` holds it) and how it was found."""

    data: dict[str, Any] | None
    word: str = ""
    notes: list[str] = field(default_factory=list)


def _objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in the text, in order."""
    out, i = [], text.find("{")
    while i >= 0:
        try:
            value, end = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        if isinstance(value, dict):
            out.append(value)
        i = text.find("{", end)
    return out


def label_field(data: dict[str, Any]) -> Any:
    """The value under `label` (the key's case and surrounding spaces ignored); None when absent."""
    return next((v for k, v in data.items() if str(k).strip().casefold() == "label"), None)


def find_answer(text: str) -> Found:
    """The JSON object (or bare word) an answer gives; NoLabel for an empty answer or a refusal in words,
    JudgeOutputError (worth a repair turn) when no object with a label can be told apart."""
    body, notes = (text or "").strip(), []
    if not body:
        raise NoLabel("empty", "the answer has no text")
    if "<" in body and (_THINK_OPEN.search(body) or _THINK_CLOSE.search(body)):
        body = _THINK.sub("", body)
        if _THINK_OPEN.search(body):
            raise JudgeOutputError("the answer ends inside its reasoning block, with no JSON after it")
        body = _THINK_CLOSE.split(body)[-1].strip()  # a server that drops the opening tag leaves the closing one
        notes.append("reasoning block before the JSON")
        if not body:
            raise NoLabel("empty", "the answer holds reasoning only")
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            return Found(data, notes=notes)
    except json.JSONDecodeError:
        pass
    fenced = [o for block in _FENCE.findall(body) for o in _objects(block)]
    objects = fenced or _objects(body)
    if fenced:
        notes.append("JSON in a code fence")
    elif objects:
        notes.append("text around the JSON")
    labelled = [o for o in objects if label_field(o) is not None]
    if labelled:
        if len({json.dumps(label_field(o), sort_keys=True) for o in labelled}) > 1:
            raise JudgeOutputError(f"the answer holds {len(labelled)} JSON objects with different labels")
        return Found(labelled[-1], notes=notes + ([f"{len(labelled)} JSON objects with the same label"] if len(labelled) > 1 else []))
    if objects:
        return Found(objects[-1], notes=notes)
    word = _FENCE.sub(lambda m: m.group(1), body).strip()
    if _WORD.match(word) and not _REFUSAL.match(word):
        return Found(None, word, notes + ["a bare label, no JSON"])
    if len(body) <= 600 and _REFUSAL.match(body):
        raise NoLabel("refused", body[:120])
    raise JudgeOutputError("the answer is not JSON")
