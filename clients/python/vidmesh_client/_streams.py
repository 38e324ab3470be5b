"""`vidmesh streams create | list | get | end | rotate-key | delete`: live streams from the
command line, through the gateway like every other client."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable

from google.protobuf import json_format
from vidmesh.live.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ._client import VidmeshClient

ClientFor = Callable[[argparse.Namespace, bool], VidmeshClient]
VISIBILITIES = {"public": media_pb2.VISIBILITY_PUBLIC, "unlisted": media_pb2.VISIBILITY_UNLISTED, "private": media_pb2.VISIBILITY_PRIVATE}
LIST_HEADER = f"{'ID':<13} {'STATE':<13} {'VIEWERS':>7}  {'STARTED (UTC)':<16}  TITLE"


def _name(enum: object, value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix).lower() if value else ""  # type: ignore[attr-defined]


def state_of(stream: resources_pb2.LiveStream) -> str:
    return _name(resources_pb2.LiveStreamState, stream.state, "LIVE_STREAM_STATE_")


def _when(stamp: object) -> str:
    seconds = getattr(stamp, "seconds", 0)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M") if seconds else ""


def print_stream(stream: resources_pb2.LiveStream, as_json: bool) -> None:
    if as_json:
        print(json_format.MessageToJson(stream))
        return
    health = stream.health
    fields = [
        ("id", stream.id),
        ("title", stream.title),
        ("owner", stream.owner),
        ("state", state_of(stream)),
        ("visibility", _name(media_pb2.Visibility, stream.visibility, "VISIBILITY_")),
        ("records", "yes" if stream.record else "no"),
        ("server", stream.ingest_url),
        ("stream key", f"{stream.stream_key}   (shown once: keep it secret)" if stream.stream_key else ""),
        ("playlist", stream.master_playlist_path),
        ("viewers", str(stream.viewer_count) if stream.state != resources_pb2.LIVE_STREAM_STATE_ENDED else ""),
        ("started", _when(stream.start_time)),
        ("ended", _when(stream.end_time)),
        ("end reason", _name(resources_pb2.EndReason, stream.end_reason, "END_REASON_")),
        ("recording", stream.recording_video),
    ]
    if stream.HasField("health"):
        fields.append(
            (
                "ingest",
                f"{stream.ingest.width}x{stream.ingest.height} {stream.ingest.video_codec}/{stream.ingest.audio_codec}, "
                f"{health.video_bit_rate / 1e6:.1f} Mbit/s, {health.frame_rate:g} fps, keyframes every {health.keyframe_interval:g} s, "
                f"{health.dropped_frames} dropped",
            )
        )
    if stream.HasField("last_ingest_end") and stream.last_ingest_end.error:
        end = stream.last_ingest_end
        fields.append(("last error", f"{_name(resources_pb2.IngestError, end.error, 'INGEST_ERROR_')}: {end.detail}"))
    for label, value in fields:
        if value:
            print(f"{label + ':':<12} {value}")
    if stream.stream_key:
        print(f"\npublish with: ffmpeg -re -i <file> -c:v libx264 -g 60 -c:a aac -f flv {stream.ingest_url}/{stream.stream_key}")


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    client_opts: Callable[[argparse.ArgumentParser], None],
    client_for: ClientFor,
) -> None:
    streams = commands.add_parser("streams", help="create, list, show, end live streams and rotate their keys").add_subparsers(
        dest="streams_command", required=True
    )

    def command(name: str, help: str, run: Callable[[argparse.Namespace], int], *, with_id: bool = True) -> argparse.ArgumentParser:
        parser = streams.add_parser(name, help=help)
        client_opts(parser)
        if with_id:
            parser.add_argument("id", metavar="STREAM")
        parser.add_argument("--json", action="store_true", help="print the protobuf JSON mapping")
        parser.set_defaults(run=run)
        return parser

    def create(args: argparse.Namespace) -> int:
        with client_for(args, True) as client:
            made = client.create_stream(
                args.title, description=args.description or "", visibility=VISIBILITIES[args.visibility], record=not args.no_record
            )
        print_stream(made, args.json)
        return 0

    made = command("create", "create a stream and print its RTMP URL and key (the key is shown once)", create, with_id=False)
    made.add_argument("--title", required=True)
    made.add_argument("--description")
    made.add_argument("--visibility", choices=sorted(VISIBILITIES), default="public")
    made.add_argument("--no-record", action="store_true", help="do not publish the broadcast as a video when it ends")

    def listing(args: argparse.Namespace) -> int:
        with client_for(args, False) as client:
            for shown, stream in enumerate(client.iter_streams(args.owner or "", on_air=args.live), start=1):
                if args.json:
                    print(json_format.MessageToJson(stream))
                    continue
                if shown == 1:
                    print(LIST_HEADER)
                print(f"{stream.id:<13} {state_of(stream):<13} {stream.viewer_count:>7}  {_when(stream.start_time):<16}  {stream.title}")
        return 0

    listed = command("list", "an owner's streams, newest first, or (--live) who is live now", listing, with_id=False)
    listed.add_argument("--owner")
    listed.add_argument("--live", action="store_true", help="only streams on air now")

    def show(args: argparse.Namespace) -> int:
        with client_for(args, False) as client:
            print_stream(client.get_stream(args.id), args.json)
        return 0

    def end(args: argparse.Namespace) -> int:
        with client_for(args, True) as client:
            print_stream(client.end_stream(args.id), args.json)
        return 0

    def rotate(args: argparse.Namespace) -> int:
        with client_for(args, True) as client:
            print_stream(client.rotate_stream_key(args.id), args.json)
        return 0

    def delete(args: argparse.Namespace) -> int:
        with client_for(args, True) as client:
            client.delete_stream(args.id)
        print(f"deleted streams/{args.id}")
        return 0

    command("get", "show one stream: state, ingest health, viewers", show)
    command("end", "end a stream for good (the encoder is disconnected; a recording becomes a video)", end)
    command("rotate-key", "replace the stream key (the old one is refused and its encoder cut off)", rotate)
    command("delete", "delete a stream (its recording, if any, stays a video)", delete)
