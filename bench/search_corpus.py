"""A synthetic video catalog for the search benchmark, the same on every run (seeded).

Words are made of syllables and drawn from a Zipf-Mandelbrot distribution over 50,000 of them,
p(rank k) ~ 1 / (k + 100): the most common word is in about 6% of the videos, as in real titles,
where plain Zipf (1 / k) makes the head words near stop words and dominates latency. Titles have
3-8 words, descriptions 15-40, tags 1-5 from 2,000. Views are log-normal (median about 400, tail
to hundreds of millions), creation uniform over 3 years, 90% public, 7% unlisted, 3% private,
100,000 owners. Video i is a function of (seed, i), so queries can be drawn from any video's
title without keeping the catalog in memory.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

WORDS, TAGS, OWNERS = 50_000, 2_000, 100_000
MANDELBROT_Q = 100
YEARS = 3
_CONSONANTS, _VOWELS, _CODAS = "bcdfghjklmnprstvz", "aeiou", ["", "", "", "n", "r", "l", "s", "k"]


@dataclass(frozen=True)
class Doc:
    id: str
    title: str
    description: str
    tags: list[str]
    owner: str
    visibility: int  # media_pb2.Visibility values: 1 public, 2 unlisted, 3 private
    created_ms: int
    duration_ms: int
    views: int


class Corpus:
    def __init__(self, seed: int = 7, now_ms: int | None = None):
        self.seed = seed
        self.now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        rng = random.Random(seed)
        syllables = [c + v + k for c in _CONSONANTS for v in _VOWELS for k in _CODAS]
        seen: set[str] = set()
        words: list[str] = []
        while len(words) < WORDS:
            word = "".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
            if len(word) >= 3 and word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words  # by rank: words[0] is the most common
        self.cumulative = list(itertools.accumulate(1.0 / (k + MANDELBROT_Q) for k in range(1, WORDS + 1)))
        self.tags = words[100 : 100 + TAGS]
        self.tag_cumulative = list(itertools.accumulate(1.0 / (k + 10) for k in range(1, TAGS + 1)))

    def doc(self, i: int) -> Doc:
        rng = random.Random(self.seed * 1_000_003 + i)
        words, cw = self.words, self.cumulative
        title = " ".join(rng.choices(words, cum_weights=cw, k=rng.randint(3, 8))).capitalize()
        description = " ".join(rng.choices(words, cum_weights=cw, k=rng.randint(15, 40))) + "."
        tags = list(dict.fromkeys(rng.choices(self.tags, cum_weights=self.tag_cumulative, k=rng.randint(1, 5))))
        roll = rng.random()
        visibility = 1 if roll < 0.90 else 2 if roll < 0.97 else 3
        return Doc(
            id=f"b{i:07d}",
            title=title,
            description=description.capitalize(),
            tags=tags,
            owner=f"u{rng.randrange(OWNERS)}",
            visibility=visibility,
            created_ms=self.now_ms - rng.randrange(YEARS * 365 * 86_400_000),
            duration_ms=int(min(7_200_000, max(10_000, rng.lognormvariate(12.5, 1.0)))),
            views=int(rng.lognormvariate(6.0, 2.5)),
        )

    def docs(self, count: int) -> Iterator[Doc]:
        return (self.doc(i) for i in range(count))

    def queries(self, count: int, videos: int, seed: int) -> list[str]:
        """2-3 words of the titles of random public videos."""
        rng = random.Random(seed)
        found = []
        while len(found) < count:
            doc = self.doc(rng.randrange(videos))
            if doc.visibility != 1:
                continue
            words = doc.title.lower().split()
            found.append(" ".join(rng.sample(words, min(len(words), rng.randint(2, 3)))))
        return found

    def typos(self, count: int, videos: int, seed: int) -> list[str]:
        """One title word of a random public video with two neighbouring letters swapped."""
        rng = random.Random(seed)
        found = []
        while len(found) < count:
            doc = self.doc(rng.randrange(videos))
            candidates = [w for w in doc.title.lower().split() if len(w) >= 6]
            if doc.visibility != 1 or not candidates:
                continue
            word = rng.choice(candidates)
            at = rng.randrange(2, len(word) - 1)
            typo = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
            if typo != word:
                found.append(typo)
        return found
