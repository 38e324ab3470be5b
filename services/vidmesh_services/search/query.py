"""What a user typed, as words and phrases: nothing of tantivy's query language gets through.

Words are runs of letters and digits in any script; "double quotes" around words make a phrase.
Everything else (operators, field names, brackets, an unbalanced quote) is punctuation and only
separates words, so no input can make the query parser fail or do more than match words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUERY_CHARS = 200
MAX_WORDS = 32
_WORD = re.compile(r"\w+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]*)"')


@dataclass(frozen=True)
class Terms:
    words: tuple[str, ...]  # lower-cased, outside quotes
    phrases: tuple[tuple[str, ...], ...]  # each of two or more words

    @property
    def empty(self) -> bool:
        return not self.words and not self.phrases

    def count(self) -> int:
        return len(self.words) + sum(len(p) for p in self.phrases)

    def text(self) -> str:
        """The same terms in tantivy's syntax: safe, since every part is a plain word."""
        parts = [f'"{" ".join(p)}"' for p in self.phrases]
        return " ".join([*parts, *self.words])


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text.replace("_", " "))]


def parse(text: str) -> Terms:
    words: list[str] = []
    phrases: list[tuple[str, ...]] = []
    rest = _PHRASE.sub(lambda m: phrases.append(tuple(_words(m[1]))) or " ", text)  # type: ignore[func-returns-value]
    words = _words(rest)
    for phrase in [p for p in phrases if len(p) == 1]:
        words += phrase  # a quoted single word is just a word
    return Terms(tuple(words), tuple(p for p in phrases if len(p) > 1))


def last_word(prefix: str) -> tuple[list[str], str]:
    """The finished words of what is being typed and the word being typed ('' after a space)."""
    words = _words(prefix)
    if not words or not prefix or not prefix[-1].isalnum():
        return words, ""
    return words[:-1], words[-1]
