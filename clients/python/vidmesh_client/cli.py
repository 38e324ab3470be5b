"""The `vidmesh` command line.

Server side: `vidmesh up`, `vidmesh keys create`, `vidmesh recs train|rollback|status`. Client side: `vidmesh upload`, `vidmesh videos ...`,
talking to the gateway at --url / VIDMESH_URL with the key in --api-key / VIDMESH_API_KEY.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import grpc
from google.protobuf import json_format
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.search.v1 import search_service_pb2 as search_pb2
from vidmesh.transcode.v1 import resources_pb2 as transcode_resources_pb2
from vidmesh.type.v1 import media_pb2

from . import _streams
from ._client import DEFAULT_URL, VidmeshClient
from ._errors import VidmeshError
from ._upload import UploadProgress

_STATS_INTERVALS = ("hour", "day")
VISIBILITIES = {
    "public": media_pb2.VISIBILITY_PUBLIC,
    "unlisted": media_pb2.VISIBILITY_UNLISTED,
    "private": media_pb2.VISIBILITY_PRIVATE,
}


SERVER_EXTRA_HINT = "pip install 'vidmesh[server]'"


def _missing_server_packages() -> list[str]:
    """The `server` extra's distributions that are not installed (none when run from a source tree)."""
    from importlib import metadata

    try:
        requirements = metadata.requires("vidmesh") or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for requirement in requirements:
        name, _, marker = requirement.partition(";")
        if "extra" not in marker or '"server"' not in marker:
            continue
        distribution = name.split("==")[0].split(">=")[0].strip()
        try:
            metadata.version(distribution)
        except metadata.PackageNotFoundError:
            missing.append(distribution)
    return missing


def _require_server_extra(command: str) -> None:
    """Fail with a hint, not a traceback, when a platform command runs from an SDK-only install."""
    missing = _missing_server_packages()
    if missing:
        raise SystemExit(
            f"error: 'vidmesh {command}' runs the platform, which needs the server extra: "
            f"{SERVER_EXTRA_HINT} (not installed: {', '.join(missing)})"
        )


def _server_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from vidmesh_services.runtime.config import load_config

    config = load_config(getattr(args, "config", None))
    if getattr(args, "home", None):
        config = config.replace(home=Path(args.home))
    if getattr(args, "http_port", None):
        config = config.replace(ports=config.ports.__class__(**{**config.ports.__dict__, "http": args.http_port}))
    return config


def _server_command(command: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A platform command of _recs.py, run with the server's config."""

    def run(args: argparse.Namespace) -> int:
        _require_server_extra(command)
        from . import _recs

        handler: Callable[[argparse.Namespace, object], int] = getattr(_recs, name)
        return handler(args, _server_config(args))

    return run


def cmd_up(args: argparse.Namespace) -> int:
    import asyncio

    _require_server_extra("up")
    from vidmesh_services.platform.supervisor import Supervisor

    if args.port_base is not None:  # under ports set on their own, as VIDMESH_PORT_BASE is
        os.environ["VIDMESH_PORT_BASE"] = str(args.port_base)
    config = _server_config(args)
    if args.config:  # every child process reads the same file
        os.environ["VIDMESH_CONFIG"] = str(Path(args.config).resolve())
    return asyncio.run(Supervisor(config, say=lambda line: print(line, flush=True)).run())


def _home_source(args: argparse.Namespace) -> str:
    """Where the home folder came from, in the order load_config and _server_config apply them."""
    if getattr(args, "home", None):
        return "--home"
    if os.environ.get("VIDMESH_HOME"):
        return "VIDMESH_HOME"
    config_file = getattr(args, "config", None) or os.environ.get("VIDMESH_CONFIG")
    if config_file:
        import yaml

        loaded = yaml.safe_load(Path(config_file).read_text()) or {}
        if isinstance(loaded, dict) and "home" in loaded:
            return f"home in {config_file}"
    return "the default: ./var in the current folder"


def _check_owner(owner: str) -> None:
    from vidmesh_services.runtime.auth import validate_owner_name
    from vidmesh_services.runtime.errors import InvalidArgument

    try:
        validate_owner_name(owner)
    except InvalidArgument as error:
        raise SystemExit(f"error: --owner {owner!r} is not an owner name: {error.violations[0].description}") from None


def cmd_keys_create(args: argparse.Namespace) -> int:
    import asyncio

    _require_server_extra("keys create")
    from vidmesh_services.runtime.auth import create_api_key
    from vidmesh_services.storage.open import open_api_key_store

    _check_owner(args.owner)
    config = _server_config(args)
    if config.metadata_backend == "sqlite":
        # The keys live in the home's database: a key made in the wrong home is one no running
        # server knows, so say which home this is and refuse one that no platform has used.
        where = f"home {config.home.resolve()} (from {_home_source(args)})"
        if not config.sqlite_path.exists() and not args.init:
            raise SystemExit(
                f"error: no vidmesh platform in {where}: a key made there would be unknown to your server.\n"
                "Run this in the folder where 'vidmesh up' runs, or point --home (or VIDMESH_HOME) at its home; "
                "--init starts a new platform database in this home instead."
            )
    else:
        where = f"Cassandra keyspace {config.cassandra.keyspace!r} at {config.cassandra.contact_points}"

    async def create() -> str:
        store = open_api_key_store(config, migrate=True)  # may run before the platform first started
        try:
            await asyncio.wait_for(store.wait_ready(), 120)
            return await create_api_key(store, args.owner)
        finally:
            await store.close()

    key = asyncio.run(create())
    print(f"API key for owner {args.owner!r} in {where} (shown once; only its hash is stored):", file=sys.stderr)
    print(key)
    return 0


def _client(args: argparse.Namespace, need_key: bool = False) -> VidmeshClient:
    key = args.api_key or os.environ.get("VIDMESH_API_KEY")
    if need_key and not key:
        raise SystemExit("error: this command needs an API key: --api-key or VIDMESH_API_KEY (create one with 'vidmesh keys create')")
    return VidmeshClient(args.url or os.environ.get("VIDMESH_URL") or DEFAULT_URL, key)


# Shown next to a full upload bar while the server acknowledges the last chunks and probes the file.
FINISHING = "finishing: the server confirms the last chunks and checks the file"


def cmd_upload(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    path = Path(args.path)
    if not path.is_file():
        raise SystemExit(f"error: {path} is not a file")
    bar: tqdm | None = None
    shown_phase = "sending"

    def show(state: UploadProgress) -> None:
        nonlocal bar, shown_phase
        if bar is None:
            bar = tqdm(
                total=state.total_bytes,
                initial=state.resumed_bytes,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=path.name[:30],
                file=sys.stderr,
                disable=args.quiet,
                dynamic_ncols=True,
            )
            if state.resumed_bytes:
                bar.write(f"resuming {state.upload_name}: {state.resumed_bytes} bytes already on the server", file=sys.stderr)
        bar.update(state.sent_bytes - bar.n)
        if state.phase != shown_phase:  # "finishing", or "sending" again after a retry
            shown_phase = state.phase
            bar.set_postfix_str(FINISHING if shown_phase == "finishing" else "")

    with _client(args, need_key=True) as client:
        try:
            video_id = client.upload(
                path,
                title=args.title,
                description=args.description,
                tags=args.tag,
                visibility=VISIBILITIES[args.visibility],
                chunk_size=args.chunk_size_mib * 1024 * 1024,
                sha256=args.sha256,
                progress=show,
            )
        except KeyboardInterrupt:
            if bar:
                bar.close()
            print("\ninterrupted: run the same command again to resume", file=sys.stderr)
            _close_or_exit(client, 130)  # closing again on the way out is harmless
            return 130
        finally:
            if bar:
                bar.close()
        try:
            if args.wait and not _wait_for_transcode(client, video_id, args.quiet):
                print(video_id)
                return 1
        except KeyboardInterrupt:
            print("\nstopped waiting: the video is uploaded and keeps transcoding on the server", file=sys.stderr)
            print(video_id)
            return 130
    print(video_id)
    return 0


def _close_or_exit(client: VidmeshClient, code: int, seconds: float = 2.0) -> None:
    """Closes client, or exits with code if that takes longer than seconds: on a stalled line
    (the network gone, the peer not reading) gRPC's channel close waits for the cancelled
    upload stream until TCP gives up, which can take many minutes. Nothing is left to save:
    the upload's ledger entry is on disk from the start."""
    closer = threading.Thread(target=client.close, daemon=True)
    closer.start()
    closer.join(seconds)
    if closer.is_alive():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait_for_transcode(client: VidmeshClient, video_id: str, quiet: bool) -> bool:
    """Shows transcode progress until the job ends; True when the video is ready."""
    from tqdm import tqdm

    jobs = client.jobs_for_video(video_id)
    if not jobs:
        print(f"error: no transcode job found for {video_id}", file=sys.stderr)
        return False
    job = jobs[0]
    with tqdm(total=100, desc="transcoding", unit="%", file=sys.stderr, disable=quiet, dynamic_ncols=True) as bar:
        for update in client.watch_job(job.name):
            job = update  # the last one watched is the final state
            bar.set_postfix_str(job_progress_note(job))
            bar.update(job.percent - bar.n)
    if job.state == transcode_resources_pb2.JOB_STATE_SUCCEEDED:
        print(f"ready: {len(job.output.renditions)} renditions, {job.output.master_playlist_path}", file=sys.stderr)
        return True
    if job.state == transcode_resources_pb2.JOB_STATE_CANCELLED:
        print(f"error: transcoding cancelled: {job.failure_reason}", file=sys.stderr)
        return False
    print(f"error: transcoding failed: {job.failure_reason}", file=sys.stderr)
    return False


def job_progress_note(job: transcode_resources_pb2.Job) -> str:
    """What the `--wait` bar says beside the percentage: the queue position while waiting, else the stage."""
    if job.state == transcode_resources_pb2.JOB_STATE_QUEUED:
        if job.queue_position == 1:
            return "queued, next in line"
        if job.queue_position > 1:
            ahead = job.queue_position - 1
            return f"queued, {ahead} job{'s' if ahead > 1 else ''} ahead"
        return "queued" if job.attempt <= 1 else f"waiting to retry, attempt {job.attempt}"
    stage = transcode_resources_pb2.JobStage.Name(job.stage).removeprefix("JOB_STAGE_").lower()
    return f"{stage}, attempt {job.attempt}" if job.attempt > 1 else stage


def _status(video: resources_pb2.Video) -> str:
    return resources_pb2.VideoStatus.Name(video.status).removeprefix("VIDEO_STATUS_").lower()


def _visibility(video: resources_pb2.Video) -> str:
    return media_pb2.Visibility.Name(video.visibility).removeprefix("VISIBILITY_").lower()


def _created(video: resources_pb2.Video) -> str:
    return video.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M")


def _row(*cells: str) -> str:
    video_id, status, visibility, created, owner, title = cells
    return f"{video_id:<12} {status:<10} {visibility:<10} {created:<16}  {owner:<12} {title}"


LIST_HEADER = _row("ID", "STATUS", "VISIBILITY", "CREATED", "OWNER", "TITLE")


def _print_row(video: resources_pb2.Video) -> None:
    print(_row(video.id, _status(video), _visibility(video), _created(video), video.owner, video.title))


def _print_video(video: resources_pb2.Video, as_json: bool) -> None:
    """One video in full: every field a user acts on, and why it failed if it did."""
    if as_json:
        print(json_format.MessageToJson(video))
        return
    source = video.source
    fields = [
        ("id", video.id),
        ("title", video.title),
        ("owner", video.owner),
        ("status", _status(video)),
        ("reason", video.failure_reason),
        ("visibility", _visibility(video)),
        ("created", _created(video) + " UTC"),
        ("tags", ", ".join(video.tags)),
        ("description", video.description),
    ]
    if video.HasField("source"):
        codecs = "/".join(c for c in (source.video_codec, source.audio_codec) if c)
        fields.append(("source", f"{source.width}x{source.height} {codecs}, {source.duration.ToTimedelta().total_seconds():g} s"))
    fields += [
        ("renditions", ", ".join(r.name for r in video.renditions)),
        ("playlist", video.master_playlist_path),
    ]
    for label, value in fields:
        if value:
            print(f"{label + ':':<12} {value}")


def cmd_videos_list(args: argparse.Namespace) -> int:
    shown = 0
    with _client(args) as client:
        for video in client.iter_videos(owner=args.owner or ""):
            shown += 1
            if args.json:
                print(json_format.MessageToJson(video))
            else:
                if shown == 1:
                    print(LIST_HEADER)
                _print_row(video)
            if args.limit and shown >= args.limit:
                break
    if not shown and not args.json:
        print("no videos", file=sys.stderr)
    return 0


def cmd_videos_get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_video(client.get_video(args.id), args.json)
    return 0


def cmd_videos_update(args: argparse.Namespace) -> int:
    fields: dict[str, object] = {}
    if args.title is not None:
        fields["title"] = args.title
    if args.description is not None:
        fields["description"] = args.description
    if args.tag is not None:
        fields["tags"] = args.tag
    if args.visibility is not None:
        fields["visibility"] = VISIBILITIES[args.visibility]
    if not fields:
        raise SystemExit("error: name at least one of --title, --description, --tag, --visibility")
    with _client(args, need_key=True) as client:
        _print_video(client.update_video(args.id, **fields), args.json)
    return 0


def cmd_videos_delete(args: argparse.Namespace) -> int:
    with _client(args, need_key=True) as client:
        client.delete_video(args.id)
    print(f"deleted {args.id}", file=sys.stderr)
    return 0


def cmd_videos_playback_url(args: argparse.Namespace) -> int:
    with _client(args, need_key=True) as client:
        signed = client.playback_url(args.id, int(args.ttl_minutes * 60))
    base = "http://" + client.target
    expires = signed.expire_time.ToDatetime().strftime("%Y-%m-%d %H:%M UTC")
    print(f"valid until {expires}; anyone with these links can watch:", file=sys.stderr)
    print(f"  watch page:  {base}/watch/{args.id}?token={signed.token}", file=sys.stderr)
    print(base + signed.url)
    return 0


SEARCH_ORDERS = {
    "relevance": search_pb2.SEARCH_ORDER_RELEVANCE,
    "recent": search_pb2.SEARCH_ORDER_RECENT,
    "popular": search_pb2.SEARCH_ORDER_POPULAR,
}
SEARCH_HEADER = f"{'ID':<12} {'VIEWS':>7} {'LENGTH':>8} {'CREATED':<16}  {'OWNER':<12} TITLE"


def _length(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _span(text: str) -> dt.timedelta:
    """'90s', '4m', '1h' (a bare number is seconds)."""
    units = {"s": "seconds", "m": "minutes", "h": "hours"}
    unit = text[-1:].lower()
    try:
        return dt.timedelta(**{units[unit]: float(text[:-1])}) if unit in units else dt.timedelta(seconds=float(text))
    except ValueError:
        raise SystemExit(f"error: {text!r} is not a length such as 90s, 4m or 1h") from None


def _marked(hit: search_pb2.SearchHit) -> str:
    """The title with matched words in *stars* (the title snippet), or the plain title."""
    for snippet in hit.snippets:
        if snippet.field == "title":
            return "".join(f"*{p.text}*" if p.highlighted else p.text for p in snippet.parts)
    return hit.video.title


def cmd_search(args: argparse.Namespace) -> int:
    from . import _stats

    try:
        since = _stats.parse_since(args.since, _stats.now_utc()) if args.since else None
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if not 1 <= args.limit <= 1000:
        raise SystemExit("error: --limit is 1 to 1000")
    shown, token, total = 0, "", 0
    with _client(args) as client:
        while shown < args.limit:
            page = client.search(
                args.query,
                tags=args.tag or (),
                order=SEARCH_ORDERS[args.order],
                owner=args.owner or "",
                min_duration=_span(args.min_length) if args.min_length else None,
                max_duration=_span(args.max_length) if args.max_length else None,
                created_after=since,
                page_size=min(50, args.limit - shown),
                page_token=token,
            )
            total = page.total_size
            if not shown and page.suggested_query:
                print(f"did you mean: {page.suggested_query}", file=sys.stderr)
            for hit in page.hits:
                shown += 1
                if args.json:
                    print(json_format.MessageToJson(hit))
                    continue
                if shown == 1:
                    print(SEARCH_HEADER)
                video = hit.video
                row = f"{video.id:<12} {hit.view_count:>7} {_length(video.source.duration.seconds):>8} {_created(video):<16}  {video.owner:<12}"
                print(f"{row} {_marked(hit)}{'  (similar spelling)' if hit.fuzzy else ''}")
            token = page.next_page_token
            if not token:
                break
        if not args.json:
            print(f"{shown} of about {total} videos" if shown else "no videos found", file=sys.stderr)
    return 0


WATCH_SECONDS = 2.0
CLEAR_SCREEN = "\x1b[H\x1b[2J"


@contextlib.contextmanager
def _stopped_by_ctrl_c() -> Iterator[threading.Event]:
    """An event Ctrl-C sets, so a refresh loop ends between calls: a KeyboardInterrupt raised in
    the middle of a gRPC call can leave the channel unable to close. A second Ctrl-C interrupts
    at once."""
    stop = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_stats(args: argparse.Namespace) -> int:
    from . import _stats

    try:
        if args.since:
            _stats.parse_since(args.since, _stats.now_utc())
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    query = _stats.Query(args.id, args.since, args.interval)
    table = bool(args.since or args.interval)
    with _client(args, need_key=True) as client:
        if not args.watch:
            print(query.fetch(client, _stats.now_utc()).render(_stats.now_utc(), table))
            return 0
        clear = sys.stdout.isatty()
        with _stopped_by_ctrl_c() as stop:
            while not stop.is_set():
                try:
                    shown = query.fetch(client, _stats.now_utc()).render(_stats.now_utc(), table)
                except VidmeshError as error:
                    if error.code != grpc.StatusCode.UNAVAILABLE:
                        raise
                    shown = f"analytics unavailable, retrying every {WATCH_SECONDS:g} s: {error.describe()}"
                print((CLEAR_SCREEN if clear else "\n") + shown + f"\n\n(refreshing every {WATCH_SECONDS:g} s; Ctrl-C stops)", flush=True)
                stop.wait(WATCH_SECONDS)
        return 0  # the way --watch ends


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidmesh", description="vidmesh: a video platform backend")
    commands = parser.add_subparsers(dest="command", required=True)

    def server_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--home", help="data folder (default: VIDMESH_HOME or ./var)")
        p.add_argument("--config", help="YAML config file (default: VIDMESH_CONFIG)")

    def client_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", help=f"gateway address (default: VIDMESH_URL or {DEFAULT_URL})")
        p.add_argument("--api-key", help="API key (default: VIDMESH_API_KEY)")

    up = commands.add_parser("up", help="start the whole platform in the foreground")
    server_opts(up)
    up.add_argument("--http-port", type=int, help="gateway port (default 8080)")
    up.add_argument("--port-base", type=int, help="put every port at this number + a fixed offset, e.g. for a second instance")
    up.set_defaults(run=cmd_up)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create an API key and print it once")
    server_opts(create)
    create.add_argument("--owner", required=True, help="owner name the key acts as: 1-63 of a-z 0-9 . _ -")
    create.add_argument("--init", action="store_true", help="allow a home no platform has used yet (creates its database)")
    create.set_defaults(run=cmd_keys_create)

    recs = commands.add_parser("recs", help="train, roll back and inspect recommendation models").add_subparsers(
        dest="recs_command", required=True
    )
    rtrain = recs.add_parser("train", help="train, evaluate and (if not worse than the deployed model) deploy a model")
    server_opts(rtrain)
    rtrain.add_argument("--trainer", choices=("implicit", "spark"), help="override recs.trainer")
    rtrain.set_defaults(run=_server_command("recs train", "cmd_recs_train"))
    rrollback = recs.add_parser("rollback", help="serve the previous model again")
    server_opts(rrollback)
    rrollback.set_defaults(run=_server_command("recs rollback", "cmd_recs_rollback"))
    rstatus = recs.add_parser("status", help="models: evaluation, decision, impressions, clicks and CTR")
    server_opts(rstatus)
    rstatus.add_argument("--json", action="store_true")
    rstatus.set_defaults(run=_server_command("recs status", "cmd_recs_status"))

    upload = commands.add_parser("upload", help="upload a video (re-run to resume an interrupted upload)")
    client_opts(upload)
    upload.add_argument("path")
    upload.add_argument("--title", required=True)
    upload.add_argument("--description", default="")
    upload.add_argument("--tag", action="append", default=[], help="repeat for several tags")
    upload.add_argument("--visibility", choices=sorted(VISIBILITIES), default="private")
    upload.add_argument("--chunk-size-mib", type=int, default=0, help="1-64 (default: the server's, 10)")
    upload.add_argument("--sha256", action="store_true", help="hash the file first; the server verifies it on completion")
    upload.add_argument("--quiet", action="store_true", help="no progress bar")
    upload.add_argument("--wait", action="store_true", help="then show transcode progress until the video is ready")
    upload.set_defaults(run=cmd_upload)

    videos = commands.add_parser("videos", help="list, show, change and delete videos").add_subparsers(dest="videos_command", required=True)
    vlist = videos.add_parser("list", help="newest first; public videos, or one owner's")
    client_opts(vlist)
    vlist.add_argument("--owner")
    vlist.add_argument("--limit", type=int, default=0)
    vlist.add_argument("--json", action="store_true")
    vlist.set_defaults(run=cmd_videos_list)
    vget = videos.add_parser("get", help="show one video")
    client_opts(vget)
    vget.add_argument("id")
    vget.add_argument("--json", action="store_true", help="print the protobuf JSON mapping")
    vget.set_defaults(run=cmd_videos_get)
    vupdate = videos.add_parser("update", help="change title, description, tags or visibility")
    client_opts(vupdate)
    vupdate.add_argument("id")
    vupdate.add_argument("--title")
    vupdate.add_argument("--description")
    vupdate.add_argument("--tag", action="append", help="repeat for several tags; replaces all tags")
    vupdate.add_argument("--visibility", choices=sorted(VISIBILITIES))
    vupdate.add_argument("--json", action="store_true")
    vupdate.set_defaults(run=cmd_videos_update)
    vdelete = videos.add_parser("delete", help="delete a video and its media")
    client_opts(vdelete)
    vdelete.add_argument("id")
    vdelete.set_defaults(run=cmd_videos_delete)
    vurl = videos.add_parser("playback-url", help="print a signed playback URL (needed for private videos)")
    client_opts(vurl)
    vurl.add_argument("id")
    vurl.add_argument("--ttl-minutes", type=float, default=60, help="how long it works, 1-1440 (default 60)")
    vurl.set_defaults(run=cmd_videos_playback_url)

    search = commands.add_parser("search", help="search videos by title, description and tags")
    client_opts(search)
    search.add_argument("query", nargs="?", default="", help='words, and "quoted phrases"; empty: browse with the filters')
    search.add_argument("--tag", action="append", help="only videos with this tag (repeat for several)")
    search.add_argument("--order", choices=list(SEARCH_ORDERS), default="relevance")
    search.add_argument("--owner", help="only this owner's videos (your own private ones too, with your key)")
    search.add_argument("--min-length", help="at least this long: 90s, 4m, 1h")
    search.add_argument("--max-length", help="at most this long")
    search.add_argument("--since", help="created since: a span (24h, 7d, 2w) or an ISO date")
    search.add_argument("--limit", type=int, default=20, help="how many videos to show (default 20, at most 1000)")
    search.add_argument("--json", action="store_true", help="one JSON SearchHit per line")
    search.set_defaults(run=cmd_search)

    _streams.register(commands, client_opts, _client)

    stats = commands.add_parser("stats", help="a video's views, watch time, retention and playback quality (owner only)")
    client_opts(stats)
    stats.add_argument("id", metavar="VIDEO")
    stats.add_argument("--since", help="sessions started since: a span (90m, 24h, 7d, 2w) or an ISO date/time; default: lifetime")
    stats.add_argument("--interval", choices=sorted(_STATS_INTERVALS), help="series points per hour or day (default: hour up to 72h)")
    stats.add_argument("--watch", action="store_true", help=f"refresh every {WATCH_SECONDS:g} s until Ctrl-C")
    stats.set_defaults(run=cmd_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
    except VidmeshError as error:
        print(f"error: {error.describe()}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130  # Ctrl-C: no traceback
    sys.exit(code)
