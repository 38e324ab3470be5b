"""Did-you-mean: the words of a query that few videos have, replaced by close words many have.

Candidates are the index's own words (title and tags, unstemmed) that share the first two
letters; the closest one within an edit distance of 2 (1 for words of up to four letters), a
swap of neighbours counting as one, wins, the more frequent on a tie. A typo in the first two
letters is not corrected: that keeps the candidates to a few hundred per word.
"""

from __future__ import annotations

import tantivy

from .query import Terms

CANDIDATES = 2000


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


def _closest(searcher: tantivy.Searcher, word: str, known: int) -> str | None:
    """The closest word found in more videos than the `known` that have word."""
    most = 1 if len(word) <= 4 else 2
    best: tuple[int, int, str] | None = None
    for term, count in searcher.terms_with_prefix("words", word[:2], limit=CANDIDATES):
        if count <= known or term == word:
            continue
        distance = edit_distance(word, term, most)
        if distance <= most and (best is None or (distance, -count) < best[:2]):
            best = (distance, -count, term)
    return best[2] if best else None


def correction(searcher: tantivy.Searcher, terms: Terms, enough: int) -> str:
    """The query with its rare words corrected, or '' when no word has a better spelling."""
    words = list(terms.words)
    changed = False
    for i, word in enumerate(words):
        known = searcher.doc_freq("words", word) if len(word) >= 3 else enough
        if known >= enough:
            continue
        better = _closest(searcher, word, known)
        if better:
            words[i], changed = better, True
    if not changed:
        return ""
    return " ".join([f'"{" ".join(p)}"' for p in terms.phrases] + words)
