"""Searching: a request checked, run against the index, ranked, paged and filled in.

Shape of one search (docs/search.md): the words and filters become one tantivy query; for
relevance, the top text matches (BM25, count=False pruning) are re-ranked with popularity and
recency from the index's fast fields; recent and popular orders let the index sort. Fewer text
matches than a page adds a typo-tolerant pass and perhaps a spelling suggestion. The page's
videos then come from the catalog in one BatchGetVideos, whose answer decides what is shown (a
video hidden or deleted since it was indexed is left out); view counts are the index's, which
follow analytics' view milestones (exact up to 12 views, then within about 10%), so a search
costs one call to another service, not two.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import tantivy
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.search.v1 import search_service_pb2 as pb2
from vidmesh.type.v1 import media_pb2

from ..runtime.auth import Identity
from ..runtime.config import SearchSettings
from ..runtime.errors import FieldViolation, InvalidArgument, Unavailable
from ..runtime.pages import decode_page_token, encode_page_token, invalid_page_token, query_id
from . import ranking
from .index import SCHEMA, TEXT_FIELDS, IndexReader, analyzed, matched, ms, numbers
from .query import MAX_QUERY_CHARS, MAX_WORDS, Terms, last_word, parse
from .spelling import correction

log = logging.getLogger("vidmesh.search")

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 50
MAX_TAGS, MAX_TAG_CHARS, MAX_OWNER_CHARS = 10, 64, 128
MAX_SUGGESTIONS = 10
FEW_MATCHES = 5  # below this many text matches, offer a spelling suggestion
SNIPPET_CHARS = 160
_FUZZY = {name: (False, 1, True) for name in TEXT_FIELDS}  # one edit, a swap counts as one
_I64 = tantivy.FieldType.Integer


class Catalog(Protocol):
    """What searching needs of the catalog (its typed client)."""

    async def batch_get_videos(self, video_ids: Sequence[str]) -> dict[str, resources_pb2.Video]: ...


@dataclass(frozen=True)
class _Hit:
    doc: tantivy.Document  # its stored fields: the id, and the text for highlights
    score: float
    views: int
    fuzzy: bool = False

    @property
    def video_id(self) -> str:
        return str(self.doc["id"][0])


@dataclass(frozen=True)
class Found:
    """A page of hits from the index, before the catalog fills them in."""

    searcher: tantivy.Searcher
    text: tantivy.Query | None  # the words' query (for highlights); None without words
    hits: list[_Hit]
    total: int
    suggested: str
    next_page_token: str
    own: bool  # the caller searched their own videos


def _check(request: pb2.SearchVideosRequest) -> list[FieldViolation]:
    bad = []
    if len(request.query) > MAX_QUERY_CHARS:
        bad.append(FieldViolation("query", f"at most {MAX_QUERY_CHARS} characters"))
    elif parse(request.query).count() > MAX_WORDS:
        bad.append(FieldViolation("query", f"at most {MAX_WORDS} words"))
    if len(request.tags) > MAX_TAGS:
        bad.append(FieldViolation("tags", f"at most {MAX_TAGS} tags"))
    bad += [
        FieldViolation(f"tags[{i}]", f"1 to {MAX_TAG_CHARS} characters")
        for i, t in enumerate(request.tags)
        if not 0 < len(t.strip()) <= MAX_TAG_CHARS
    ]
    for name in ("min_duration", "max_duration"):
        if request.HasField(name) and ms(getattr(request, name)) < 0:
            bad.append(FieldViolation(name, "must not be negative"))
    if request.HasField("max_duration") and ms(request.min_duration) > ms(request.max_duration):
        bad.append(FieldViolation("max_duration", "must not be below min_duration"))
    if len(request.owner) > MAX_OWNER_CHARS:
        bad.append(FieldViolation("owner", f"at most {MAX_OWNER_CHARS} characters"))
    if request.page_size < 0:
        bad.append(FieldViolation("page_size", "must not be negative"))
    return bad


def _filter(query: tantivy.Query) -> tuple[tantivy.Occur, tantivy.Query]:
    return tantivy.Occur.Must, tantivy.Query.const_score_query(query, 0.0)  # selects, scores nothing


class Search:
    def __init__(self, reader: IndexReader, settings: SearchSettings, catalog: Catalog):
        self._reader = reader
        self._settings = settings
        self._catalog = catalog

    def _searcher(self) -> tantivy.Searcher:
        if not self._reader.ready:
            raise Unavailable("the search index is being built; retry shortly", reason="SEARCH_INDEX_BUILDING")
        return self._reader.searcher()

    # -- SearchVideos -----------------------------------------------------------------------

    async def search(self, request: pb2.SearchVideosRequest, caller: Identity | None) -> pb2.SearchVideosResponse:
        found = self.find(request, caller)
        response = pb2.SearchVideosResponse(total_size=found.total, suggested_query=found.suggested, next_page_token=found.next_page_token)
        response.hits.extend(await self._fill(found, caller if found.own else None))
        return response

    def find(self, request: pb2.SearchVideosRequest, caller: Identity | None) -> Found:
        """The search itself: the request checked and run against the index, up to the page of
        hits (what the benchmark times apart from filling them in)."""
        if bad := _check(request):
            raise InvalidArgument(bad)
        own = caller is not None and bool(request.owner) and request.owner == caller.owner
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        fields = pb2.SearchVideosRequest()
        fields.CopyFrom(request)
        fields.ClearField("page_token")
        fields.ClearField("page_size")
        bound = query_id(fields.SerializeToString(deterministic=True).hex(), own)
        offset = decode_page_token(request.page_token, bound) if request.page_token else 0
        if not isinstance(offset, int) or not 0 <= offset < self._settings.max_hits:
            raise invalid_page_token()
        size = min(size, self._settings.max_hits - offset)

        searcher = self._searcher()
        terms = parse(request.query)
        text = self._text_query(terms)
        filters = self._filters(request, own)
        hits, total = self._run(searcher, text, filters, request.order, offset, size)
        suggested = ""
        if text is not None and offset == 0 and total < size:
            fuzzy = self._fuzzy(searcher, terms, filters, {h.video_id for h in hits}, size - len(hits))
            hits += fuzzy
            if total < FEW_MATCHES:
                suggested = correction(searcher, terms, FEW_MATCHES, (h.doc for h in fuzzy))
        more = offset + size < min(total, self._settings.max_hits)
        return Found(searcher, text, hits, total, suggested, encode_page_token(bound, offset + size) if more else "", own)

    def _text_query(self, terms: Terms) -> tantivy.Query | None:
        if terms.empty:
            return None
        s = self._settings
        if not analyzed(terms.text()):
            return None  # only words the index ignores ("the", "of"): the same as no words
        return self._reader.parse(
            terms.text(), field_boosts={"title": s.title_boost, "tags": s.tags_boost, "description": s.description_boost}
        )

    def _filters(self, request: pb2.SearchVideosRequest, own: bool) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        found = [_filter(tantivy.Query.term_query(SCHEMA, "tag", t.strip().lower())) for t in request.tags]
        if request.HasField("min_duration") or request.HasField("max_duration"):
            top = ms(request.max_duration) if request.HasField("max_duration") else None
            found.append(_filter(tantivy.Query.range_query(SCHEMA, "duration_ms", _I64, ms(request.min_duration), top)))
        if request.HasField("min_create_time"):
            found.append(_filter(tantivy.Query.range_query(SCHEMA, "created", _I64, ms(request.min_create_time), None)))
        if request.owner:
            found.append(_filter(tantivy.Query.term_query(SCHEMA, "owner", request.owner)))
        if not own:
            found.append(_filter(tantivy.Query.term_query(SCHEMA, "public", 1)))
        return found

    def _run(
        self,
        searcher: tantivy.Searcher,
        text: tantivy.Query | None,
        filters: list[tuple[tantivy.Occur, tantivy.Query]],
        order: int,
        offset: int,
        size: int,
    ) -> tuple[list[_Hit], int]:
        clauses = ([(tantivy.Occur.Must, text)] if text is not None else []) + filters
        query = tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.all_query()
        if text is None or order in (pb2.SEARCH_ORDER_RECENT, pb2.SEARCH_ORDER_POPULAR):
            field = "created" if order == pb2.SEARCH_ORDER_RECENT else "views"
            found = searcher.search(query, size, count=True, order_by_field=field, offset=offset)
            addresses = [address for _, address in found.hits]
            return [_Hit(searcher.doc(a), 0.0, v) for a, v in zip(addresses, numbers(searcher, "views", addresses), strict=True)], matched(
                found
            )
        s = self._settings
        found = searcher.search(query, min(s.max_hits, max(s.rerank_candidates, offset + size)), count=True)
        addresses = [address for _, address in found.hits]
        views = numbers(searcher, "views", addresses)
        created = numbers(searcher, "created", addresses)
        ranked = ranking.rerank([score for score, _ in found.hits], views, created, time.time(), s)
        page = ranked[offset : offset + size]
        return [_Hit(searcher.doc(addresses[i]), score, views[i]) for score, i in page], matched(found)

    def _fuzzy(
        self, searcher: tantivy.Searcher, terms: Terms, filters: list[tuple[tantivy.Occur, tantivy.Query]], known: set[str], wanted: int
    ) -> list[_Hit]:
        """Videos matching words one edit away, most popular and recent first (fuzzy matches all
        score the same, so the boosts alone order them)."""
        if wanted <= 0:
            return []
        words = Terms(terms.words + tuple(w for p in terms.phrases for w in p), ())
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, self._reader.parse(words.text(), fuzzy_fields=_FUZZY)), *filters])
        found = searcher.search(query, self._settings.rerank_candidates, count=False)
        addresses = [address for _, address in found.hits]
        views = numbers(searcher, "views", addresses)
        created = numbers(searcher, "created", addresses)
        ranked = ranking.rerank([1.0] * len(addresses), views, created, time.time(), self._settings)
        hits = []
        for score, i in ranked:
            hit = _Hit(searcher.doc(addresses[i]), score, views[i], fuzzy=True)
            if hit.video_id not in known:
                hits.append(hit)
                if len(hits) == wanted:
                    break
        return hits

    async def _fill(self, found: Found, owner: Identity | None) -> list[pb2.SearchHit]:
        """The hits as the catalog has them now (visible ones only), with views and snippets."""
        if not found.hits:
            return []
        videos = await self._catalog.batch_get_videos([h.video_id for h in found.hits])
        snippets = _Snippets(found.searcher, found.text) if found.text is not None else None
        filled = []
        for hit in found.hits:
            video = videos.get(hit.video_id)
            if video is None or not _visible(video, owner):
                continue
            shown = pb2.SearchHit(video=video, score=hit.score, view_count=hit.views, fuzzy=hit.fuzzy)
            if snippets is not None and not hit.fuzzy:
                shown.snippets.extend(snippets.of(hit.doc))
            filled.append(shown)
        return filled

    # -- SuggestQueries ---------------------------------------------------------------------

    def suggest(self, prefix: str) -> list[str]:
        if len(prefix) > MAX_QUERY_CHARS:
            raise InvalidArgument(FieldViolation("prefix", f"at most {MAX_QUERY_CHARS} characters"))
        before, partial = last_word(prefix)
        if not partial or len(before) >= MAX_WORDS:
            return []
        searcher = self._searcher()
        clauses = [_filter(tantivy.Query.term_query(SCHEMA, "public", 1))]
        clauses += [_filter(tantivy.Query.term_query(SCHEMA, "words", w)) for w in before]
        terms = searcher.terms_with_prefix("words", partial, filter_query=tantivy.Query.boolean_query(clauses), limit=MAX_SUGGESTIONS + 1)
        head = " ".join(before)
        return [f"{head} {term}".strip() for term, count in terms if count > 0][:MAX_SUGGESTIONS]


def _visible(video: resources_pb2.Video, owner: Identity | None) -> bool:
    if video.status != resources_pb2.VIDEO_STATUS_READY:
        return False
    return video.visibility == media_pb2.VISIBILITY_PUBLIC or (owner is not None and video.owner == owner.owner)


class _Snippets:
    """Highlighted passages of title and description for one query."""

    def __init__(self, searcher: tantivy.Searcher, query: tantivy.Query):
        self._searcher = searcher
        self._generators = {}
        for name in ("title", "description"):
            generator = tantivy.SnippetGenerator.create(searcher, query, SCHEMA, name)
            generator.set_max_num_chars(SNIPPET_CHARS)
            self._generators[name] = generator

    def of(self, doc: tantivy.Document) -> list[pb2.Snippet]:
        found = []
        for name, generator in self._generators.items():
            snippet = generator.snippet_from_doc(doc)
            marks = [(r.start, r.end) for r in snippet.highlighted()]
            if marks:
                found.append(pb2.Snippet(field=name, parts=_parts(snippet.fragment(), marks)))
        return found


def _parts(fragment: str, marks: list[tuple[int, int]]) -> list[pb2.SnippetPart]:
    """The fragment cut at the highlighted byte ranges (tantivy counts UTF-8 bytes)."""
    raw = fragment.encode()
    parts, at = [], 0
    for start, end in sorted(marks):
        if start > at:
            parts.append(pb2.SnippetPart(text=raw[at:start].decode(errors="replace")))
        parts.append(pb2.SnippetPart(text=raw[start:end].decode(errors="replace"), highlighted=True))
        at = end
    if at < len(raw):
        parts.append(pb2.SnippetPart(text=raw[at:].decode(errors="replace")))
    return parts
