"""The ranking formula on a small judged set (docs/search.md): the text decides when nothing else
differs, popularity and recency reorder videos whose text matches alike, and a weaker match can
pass a stronger one only by being much newer or much more popular."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.search.v1 import search_service_pb2 as pb2

from vidmesh_services.runtime.config import SearchSettings
from vidmesh_services.search import ranking
from vidmesh_services.search.index import IndexReader, IndexWriter
from vidmesh_services.search.searching import Search

DAY_MS = 86_400_000
NOW_MS = int(time.time() * 1000)
# id: (title, description, views, age in days)
JUDGED = {
    "old": ("cat video", "", 10, 400),
    "new": ("cat video", "", 10, 1),
    "viral": ("cat video", "", 1_000_000, 400),
    "mention": ("a dog", "there is a cat video in it", 10, 1),  # as "new", but the words only in the description
}


FILLER = 500  # other videos, so that the query's words are as rare as real words are


def _index(tmp_path: Path) -> IndexReader:
    writer = IndexWriter(tmp_path, 1, fresh=True)
    judged = dict(JUDGED)
    judged.update({f"other{i}": (f"garden walk number {i}", "a quiet film about plants", 100, 30) for i in range(FILLER)})
    for video_id, (title, description, views, age) in judged.items():
        video = resources_pb2.Video(
            id=video_id,
            title=title,
            description=description,
            status=resources_pb2.VIDEO_STATUS_READY,
            visibility=1,  # type: ignore[arg-type]
        )
        video.create_time.FromMilliseconds(NOW_MS - age * DAY_MS)
        writer.put(video, views)
    writer.commit("s:0", "")
    writer.close()
    reader = IndexReader(tmp_path)
    assert reader.refresh()
    return reader


def ranked(reader: IndexReader, settings: SearchSettings, query: str = "cat video") -> list[str]:
    found = Search(reader, settings, catalog=None).find(pb2.SearchVideosRequest(query=query), None)  # type: ignore[arg-type]
    return [hit.video_id for hit in found.hits]


@pytest.fixture
def reader(tmp_path: Path) -> IndexReader:
    return _index(tmp_path)


def test_without_boosts_the_text_decides(reader: IndexReader) -> None:
    order = ranked(reader, dataclasses.replace(SearchSettings(), popularity_weight=0.0, recency_weight=0.0))
    assert set(order[:3]) == {"old", "new", "viral"} and order[3] == "mention"  # title (x2) beats description


def test_popularity_alone_lifts_the_viewed_video_among_equal_matches(reader: IndexReader) -> None:
    order = ranked(reader, dataclasses.replace(SearchSettings(), recency_weight=0.0))
    assert order[0] == "viral" and order[3] == "mention"


def test_recency_alone_lifts_the_new_videos(reader: IndexReader) -> None:
    order = ranked(reader, dataclasses.replace(SearchSettings(), popularity_weight=0.0))
    assert order == ["new", "mention", "old", "viral"] or order == ["new", "mention", "viral", "old"]
    assert order.index("mention") < order.index("old")  # a year newer outweighs the title's weight


def test_the_defaults_rank_popular_then_recent(reader: IndexReader) -> None:
    # viral: 1M views but 400 days old; new and mention: 10 views, a day old; old: 10 views, 400 days.
    assert ranked(reader, SearchSettings()) == ["viral", "new", "mention", "old"]


def test_the_popularity_boost_is_log_damped() -> None:
    s = SearchSettings()
    now = time.time()
    assert ranking.boost(0, int(now * 1000), now, s) == pytest.approx(1.0)
    thousandfold = ranking.boost(1000, int(now * 1000), now, s) / ranking.boost(1, int(now * 1000), now, s)
    assert 2 < thousandfold < 3  # a thousand times the views: about 2.6 times the score, not 1000
    month_old = ranking.boost(0, int((now - 30 * 86_400) * 1000), now, s)
    assert month_old == pytest.approx(1 - s.recency_weight + s.recency_weight * 2.718281828**-1, rel=1e-6)
