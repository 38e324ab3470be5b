"""Did-you-mean: the words of a query that few videos have, replaced by close words many have.

The candidates are the words of the videos the typo-tolerant pass found (their titles and
tags): those are the words one edit away that exist, so no dictionary walk is needed. The
candidate within one edit (a swap of neighbours counting as one) found in the most videos wins,
if it is in more videos than the word as typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import tantivy

from .query import Terms

_WORD = re.compile(r"\w+", re.UNICODE)


def edit_distance(a: str, b: str, most: int) -> int:
    """Optimal string alignment distance, or most + 1 once it must exceed most."""
    if abs(len(a) - len(b)) > most:
        return most + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > most:
            return most + 1
        previous2, previous = previous, row
    return previous[-1]


def correction(searcher: tantivy.Searcher, terms: Terms, enough: int, found: Iterable[tantivy.Document]) -> str:
    """The query with its rare words corrected from the words of the found documents, or ''
    when no word has a better spelling."""
    vocabulary = {w.lower() for doc in found for name in ("title", "tags") for text in doc[name] for w in _WORD.findall(str(text))}
    words = list(terms.words)
    changed = False
    for i, word in enumerate(words):
        known = searcher.doc_freq("words", word)
        if known >= enough or len(word) < 3:
            continue
        close = [w for w in vocabulary if w != word and edit_distance(word, w, 1) <= 1]
        counted = sorted(((searcher.doc_freq("words", w), w) for w in close), reverse=True)
        if counted and counted[0][0] > known:
            words[i], changed = counted[0][1], True
    if not changed:
        return ""
    return " ".join([f'"{" ".join(p)}"' for p in terms.phrases] + words)
