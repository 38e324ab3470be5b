"""Search's storage: a tantivy index of the catalog's READY videos, in a folder of its own.

One writer (the indexer process) and any number of readers (search processes) share the
folder. The indexer builds each generation of the index in `gen-<n>/` and then points
`current.json` at it (written to a temporary name and renamed), together with the catalog
change-feed cursor the generation is up to date with (and analytics' view-milestone cursor);
readers open whatever `current.json`
names and reload it as commits land. So a rebuild never disturbs the readers of the old
generation, and a folder without `current.json` is one whose index is still being built.

Fields (docs/search.md): title, description and tags are analyzed text (English stemming and
stop words); `tag` holds the tags verbatim (lower-cased) for filters, `words` the unstemmed
words of title and tags for completions; numbers are fast fields (views: the
count when the document was last written, which the indexer refreshes as it grows; created:
milliseconds since the epoch).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

log = logging.getLogger("vidmesh.search.index")

POINTER = "current.json"
TEXT_FIELDS = ("title", "description", "tags")
MAX_WORD = 40  # longer "words" (hashes, URLs) are not indexed
WRITER_HEAP_BYTES = 128 * 1024 * 1024


def _analyzer(stem: bool) -> tantivy.TextAnalyzer:
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_WORD))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    if stem:
        builder = builder.filter(tantivy.Filter.stopword("english")).filter(tantivy.Filter.stemmer("english"))
    return builder.build()


_TEXT_ANALYZER = _analyzer(stem=True)


def analyzed(text: str) -> list[str]:
    """The terms the text fields would index for text (stop words gone, words stemmed)."""
    return list(_TEXT_ANALYZER.analyze(text))


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_text_field("id", stored=True, tokenizer_name="raw")
    for name in TEXT_FIELDS:
        b.add_text_field(name, stored=True, tokenizer_name="en")
    b.add_text_field("tag", tokenizer_name="raw", index_option="basic")
    b.add_text_field("words", tokenizer_name="plain", index_option="freq")
    b.add_text_field("owner", tokenizer_name="raw", index_option="basic")
    b.add_integer_field("public", indexed=True, fast=True)
    b.add_integer_field("created", indexed=True, fast=True)
    b.add_integer_field("duration_ms", indexed=True, fast=True)
    b.add_integer_field("views", fast=True)
    return b.build()


SCHEMA = _schema()


def _open(path: Path) -> tantivy.Index:
    index = tantivy.Index(SCHEMA, path=str(path), reuse=True)
    index.register_tokenizer("en", _analyzer(stem=True))
    index.register_tokenizer("plain", _analyzer(stem=False))
    return index


def ms(message: Any) -> int:
    """A Duration or Timestamp in whole milliseconds (as the index keeps times)."""
    return int(message.seconds) * 1000 + int(message.nanos) // 1_000_000


def document(video: resources_pb2.Video, views: int) -> tantivy.Document:
    tags = list(video.tags)
    return tantivy.Document.from_dict(
        {
            "id": video.id,
            "title": video.title,
            "description": video.description,
            "tags": tags,
            "tag": [t.lower() for t in tags],
            "words": [video.title, *tags],
            "owner": video.owner,
            "public": int(video.visibility == media_pb2.VISIBILITY_PUBLIC),
            "created": ms(video.create_time),
            "duration_ms": ms(video.source.duration),
            "views": views,
        },
        SCHEMA,
    )


def numbers(searcher: tantivy.Searcher, field: str, addresses: list[tantivy.DocAddress]) -> list[int]:
    """An integer fast field of these documents (0 where a segment lacks it)."""
    return [int(v or 0) for v in searcher.fast_field_values(field, addresses)]


def matched(result: tantivy.SearchResult) -> int:
    """The number of matches a search counted (count=True; the stubs do not declare it)."""
    return int(getattr(result, "count", 0) or 0)


def indexable(video: resources_pb2.Video | None) -> bool:
    return video is not None and video.status == resources_pb2.VIDEO_STATUS_READY


@dataclass(frozen=True)
class Pointer:
    generation: int
    cursor: str  # the catalog change-feed cursor this generation has applied
    views_cursor: str = ""  # analytics' view-milestone cursor, likewise


def read_pointer(root: Path) -> Pointer | None:
    try:
        raw = json.loads((root / POINTER).read_text())
        return Pointer(int(raw["generation"]), str(raw["cursor"]), str(raw.get("views_cursor", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_pointer(root: Path, pointer: Pointer) -> None:
    tmp = root / f".{POINTER}.tmp"
    with open(tmp, "w") as out:
        json.dump({"generation": pointer.generation, "cursor": pointer.cursor, "views_cursor": pointer.views_cursor}, out)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(root / POINTER)


def generation_dir(root: Path, generation: int) -> Path:
    return root / f"gen-{generation}"


class IndexWriter:
    """The indexer's handle on one generation: upserts and deletes by video id, then commit."""

    def __init__(self, root: Path, generation: int, *, fresh: bool):
        self.root = root
        self.generation = generation
        path = generation_dir(root, generation)
        if fresh:
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        self._index = _open(path)
        self._writer = self._index.writer(WRITER_HEAP_BYTES, 1)
        self.pending = 0

    def put(self, video: resources_pb2.Video, views: int) -> None:
        """Replaces the video's document (in the next commit)."""
        self._writer.delete_documents_by_term("id", video.id)
        self._writer.add_document(document(video, views))
        self.pending += 1

    def remove(self, video_id: str) -> None:
        self._writer.delete_documents_by_term("id", video_id)
        self.pending += 1

    def commit(self, cursor: str, views_cursor: str) -> None:
        """Makes the changes visible to readers, then records that they are applied up to the
        cursors (a crash in between replays them: putting a video twice changes nothing)."""
        self._writer.commit()
        self.pending = 0
        write_pointer(self.root, Pointer(self.generation, cursor, views_cursor))

    def views_of(self, video_ids: list[str]) -> dict[str, int]:
        """The view counts the index holds for these videos (those it has)."""
        self._index.reload()
        searcher = self._index.searcher()
        found: dict[str, int] = {}
        for video_id in video_ids:
            hits = searcher.search(tantivy.Query.term_query(SCHEMA, "id", video_id), 1, count=False).hits
            if hits:
                found[video_id] = numbers(searcher, "views", [hits[0][1]])[0]
        return found

    def close(self) -> None:
        self._writer.wait_merging_threads()


def drop_other_generations(root: Path, keep: int) -> None:
    for path in root.glob("gen-*"):
        if path.name != f"gen-{keep}":
            shutil.rmtree(path, ignore_errors=True)


def next_generation(old: Pointer | None) -> int:
    """A generation number no earlier one had, even if the folder (and its pointer) was lost:
    readers tell generations apart by number."""
    return max(time.time_ns() // 1_000_000, old.generation + 1 if old else 0)


class IndexReader:
    """A search process's view of the current generation, reloaded by refresh()."""

    def __init__(self, root: Path):
        self._root = root
        self._generation = -1
        self._index: tantivy.Index | None = None

    def refresh(self) -> bool:
        """Follows the pointer and picks up new commits; False while there is no index yet. An
        index that cannot be read (its folder removed under it) keeps serving what it has until
        the pointer names a new generation."""
        pointer = read_pointer(self._root)
        try:
            if pointer is not None and pointer.generation != self._generation:
                self._index = _open(generation_dir(self._root, pointer.generation))
                self._generation = pointer.generation
            elif pointer is not None and self._index is not None:
                self._index.reload()
        except (OSError, ValueError) as exc:
            log.warning("search index generation %s cannot be read: %s", pointer.generation if pointer else "?", exc)
        return self._index is not None

    @property
    def ready(self) -> bool:
        return self._index is not None

    def searcher(self) -> tantivy.Searcher:
        assert self._index is not None
        return self._index.searcher()

    def parse(self, text: str, **options: Any) -> tantivy.Query:
        assert self._index is not None
        return self._index.parse_query(text, list(TEXT_FIELDS), **options)
