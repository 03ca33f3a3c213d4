"""The probability a model gave its label, from the answer's token log-probabilities.

Providers hand back one `TokenLogprob` per generated token: the token, its log-probability and the top alternatives
at that step. The label's value in the answer JSON (`"label": "<name>"`) spans one or more tokens. Its probability
is the product of those tokens' probabilities; an alternative at one of those steps whose text continues the
value's prefix into another of the scheme's names gives that name the probability of the prefix times the
alternative's (the rest of a name, once it is unambiguous, is taken as certain). The names' masses are then
renormalised over the scheme's names, so mass on tokens that start no label (whitespace variants, other text) does
not count. An alternative that could still become several names is left out: it names no one label.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from evalharness.llm.logprobs import TokenLogprob

_LABEL_VALUE = re.compile(r'"label"\s*:\s*"')


def _names_for(value_prefix: str, names: Sequence[str]) -> list[str]:
    """The names a value starting with `value_prefix` can still become (a closing quote ends the value)."""
    if '"' in value_prefix:
        whole = value_prefix.split('"', 1)[0]
        return [n for n in names if n == whole]
    return [n for n in names if n.startswith(value_prefix)]


def label_distribution(text: str, tokens: Sequence[TokenLogprob], names: Sequence[str]) -> dict[str, float] | None:
    """name -> probability renormalised over the scheme's names, from the tokens of the answer `text`; None when the
    tokens do not spell the text, the label is not found, or the chosen label is not a name."""
    if not tokens or "".join(t.token for t in tokens) != text:
        return None
    matches = list(_LABEL_VALUE.finditer(text))  # the last one: a rationale may quote the key
    if not matches:
        return None
    start = matches[-1].end()
    end = text.find('"', start)
    if end < 0 or text[start:end] not in names:
        return None
    chosen = text[start:end]
    mass: dict[str, float] = dict.fromkeys(names, 0.0)
    offset, before = 0, 0.0  # offset of the token in the text; summed log-probability of the label's tokens so far
    for tok in tokens:
        tok_start, offset = offset, offset + len(tok.token)
        if offset <= start:
            continue
        if tok_start > end:
            break
        lead = text[max(tok_start, 0):start] if tok_start < start else ""  # text of this token before the value
        value_so_far = text[start:tok_start] if tok_start > start else ""
        for alt, lp in tok.top:
            if alt == tok.token or not alt.startswith(lead):
                continue
            candidates = _names_for(value_so_far + alt[len(lead):], names)
            if len(candidates) == 1 and candidates[0] != chosen:
                mass[candidates[0]] += math.exp(before + lp)
        before += tok.logprob
        if offset > end:  # this token holds the closing quote: the label is complete
            break
    mass[chosen] += math.exp(before)
    total = sum(mass.values())
    return {n: m / total for n, m in mass.items()} if total > 0 else None


def label_confidence(text: str, tokens: Sequence[TokenLogprob] | None, label: str, names: Sequence[str]
                     ) -> tuple[float, dict[str, float]] | None:
    """(probability of `label`, the distribution over names) or None when the tokens give none."""
    if not tokens:
        return None
    dist = label_distribution(text, tokens, names)
    if dist is None or label not in dist:
        return None
    return dist[label], dist
