// The generated TypeScript client against a running mesh, through Envoy: an upload's whole journey
// over gRPC (HTTP/2), reads and errors over gRPC-Web. Run by tests/integration/test_ts_client.py,
// which starts the mesh and sets VIDMESH_GATEWAY, VIDMESH_KEY_OWNER, VIDMESH_KEY_OTHER, VIDMESH_VIDEO.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { before, describe, it } from "node:test";

import { Code, ConnectError, createClient, type CallOptions, type Client } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

import { ErrorInfoSchema, ResourceInfoSchema } from "../../gen/ts/google/rpc/error_details_pb";
import { CatalogService } from "../../gen/ts/vidmesh/catalog/v1/catalog_service_pb";
import { VideoStatus, type Video } from "../../gen/ts/vidmesh/catalog/v1/resources_pb";
import { JobState, type Job } from "../../gen/ts/vidmesh/transcode/v1/resources_pb";
import { TranscodeService } from "../../gen/ts/vidmesh/transcode/v1/transcode_service_pb";
import { Visibility } from "../../gen/ts/vidmesh/type/v1/media_pb";
import { UploadService, type InitUploadResponse } from "../../gen/ts/vidmesh/upload/v1/upload_service_pb";
import { crc32c } from "./crc32c";

const KiB = 1024;
const CHUNK_SIZE = 64 * KiB; // the test mesh's minimum; the server's answer decides

function bearer(key: string): CallOptions {
  return { headers: { authorization: `Bearer ${key}` } };
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is unset: this test is run by tests/integration/test_ts_client.py, ` +
      "which starts a mesh and sets VIDMESH_GATEWAY, VIDMESH_KEY_OWNER, VIDMESH_KEY_OTHER and VIDMESH_VIDEO");
  }
  return value;
}

/** The mp4 followed by an ISO BMFF "free" box (which readers skip), so it spans several chunks. */
function padded(mp4: Uint8Array, atLeast: number): Uint8Array {
  if (mp4.length >= atLeast) return mp4;
  const box = new Uint8Array(Math.max(8, atLeast - mp4.length));
  new DataView(box.buffer).setUint32(0, box.length);
  box.set(new TextEncoder().encode("free"), 4);
  return Buffer.concat([mp4, box]);
}

/** Awaits a call that must fail with code and an ErrorInfo of reason; returns the error. */
async function rejects(call: Promise<unknown>, code: Code, reason: string): Promise<ConnectError> {
  try {
    await call;
  } catch (e) {
    const err = ConnectError.from(e);
    assert.equal(Code[err.code], Code[code], err.message);
    const [info] = err.findDetails(ErrorInfoSchema);
    assert.ok(info, `no ErrorInfo in ${err.message}`);
    assert.equal(info.domain, "vidmesh.dev");
    assert.equal(info.reason, reason);
    assert.ok(info.metadata["request_id"], "ErrorInfo metadata has request_id");
    return err;
  }
  assert.fail(`expected ${Code[code]} (${reason})`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("vidmesh TypeScript client through Envoy", () => {
  let baseUrl: string;
  let owner: CallOptions;
  let other: CallOptions;
  let file: Uint8Array;
  // HTTP/2 gRPC for the journey (UploadChunks streams), gRPC-Web over HTTP/1.1 for reads and errors.
  let upload: Client<typeof UploadService>;
  let jobs: Client<typeof TranscodeService>;
  let catalog: Client<typeof CatalogService>;
  let webCatalog: Client<typeof CatalogService>;
  // What the journey learns, step by step.
  let init: InitUploadResponse;
  let job: Job;
  let video: Video;

  before(() => {
    baseUrl = `http://${env("VIDMESH_GATEWAY")}`;
    owner = bearer(env("VIDMESH_KEY_OWNER"));
    other = bearer(env("VIDMESH_KEY_OTHER"));
    file = padded(readFileSync(env("VIDMESH_VIDEO")), 3 * CHUNK_SIZE + 1000);
    const grpc = createGrpcTransport({ baseUrl, defaultTimeoutMs: 30_000 });
    const web = createGrpcWebTransport({ baseUrl, httpVersion: "1.1", defaultTimeoutMs: 30_000 });
    upload = createClient(UploadService, grpc);
    jobs = createClient(TranscodeService, grpc);
    catalog = createClient(CatalogService, grpc);
    webCatalog = createClient(CatalogService, web);
  });

  it("computes CRC32C (Castagnoli)", () => {
    assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  });

  it("uploads in several chunks, over two UploadChunks calls", async () => {
    init = await upload.initUpload({
      filename: basename(env("VIDMESH_VIDEO")),
      sizeBytes: BigInt(file.length),
      contentType: "video/mp4",
      sha256: createHash("sha256").update(file).digest("hex"),
      chunkSizeBytes: CHUNK_SIZE,
      title: "ts-journey",
      tags: ["typescript"],
      visibility: Visibility.PUBLIC, // so the other owner sees it, and its playlist needs no token
    }, owner);
    assert.match(init.name, /^uploads\/[^/]+$/);
    assert.equal(init.chunkCount, Math.ceil(file.length / init.chunkSizeBytes));
    assert.ok(init.chunkCount >= 3, `${init.chunkCount} chunks of ${init.chunkSizeBytes} bytes`);

    const chunk = (index: number) => {
      const data = file.subarray(index * init.chunkSizeBytes, (index + 1) * init.chunkSizeBytes);
      return { name: init.name, index, data, crc32c: crc32c(data) };
    };
    async function* chunks(indexes: number[]) {
      for (const index of indexes) yield chunk(index);
    }
    // Every chunk but #1, newest first; then, as after an interruption, what the status says is missing.
    const allButOne = [...Array(init.chunkCount).keys()].filter((i) => i !== 1).reverse();
    const first = await upload.uploadChunks(chunks(allButOne), owner);
    assert.deepEqual(first.recordedIndexes, allButOne);
    assert.equal(first.receivedCount, init.chunkCount - 1);
    assert.equal(first.chunkCount, init.chunkCount);

    let status = await upload.getUploadStatus({ name: init.name }, owner);
    assert.deepEqual(status.receivedIndexes, allButOne.slice().sort((a, b) => a - b));
    assert.equal(status.sizeBytes, BigInt(file.length));
    assert.equal(status.chunkSizeBytes, init.chunkSizeBytes);
    assert.equal(status.videoId, init.videoId);

    const early = await rejects(upload.completeUpload({ name: init.name }, owner),
      Code.FailedPrecondition, "CHUNKS_MISSING");
    const [missing] = early.findDetails(ErrorInfoSchema);
    assert.equal(missing?.metadata["missing_count"], "1");
    assert.equal(missing?.metadata["missing_indexes"], "1");

    const missingIndexes = [...Array(init.chunkCount).keys()].filter((i) => !status.receivedIndexes.includes(i));
    const second = await upload.uploadChunks(chunks(missingIndexes), owner);
    assert.deepEqual(second.recordedIndexes, [1]);
    assert.equal(second.receivedCount, init.chunkCount);
    status = await upload.getUploadStatus({ name: init.name }, owner);
    assert.deepEqual(status.receivedIndexes, [...Array(init.chunkCount).keys()]);
  });

  it("completes the upload into a video", async () => {
    const done = await upload.completeUpload({ name: init.name }, owner);
    assert.equal(done.videoId, init.videoId);
    assert.equal(done.videoName, `videos/${init.videoId}`);
  });

  it("watches the transcode job until SUCCEEDED (server streaming)", { timeout: 250_000 }, async () => {
    const listed = await jobs.listJobs({ video: `videos/${init.videoId}` }, owner);
    assert.equal(listed.jobs.length, 1);
    const seen: Job[] = [];
    for await (const message of jobs.watchJob({ name: listed.jobs[0]!.name }, { ...owner, timeoutMs: 240_000 })) {
      assert.ok(message.job);
      seen.push(message.job);
    }
    const terminal = seen.filter((j) => j.state === JobState.SUCCEEDED || j.state === JobState.FAILED);
    assert.equal(terminal.length, 1, "the call ends right after the terminal message");
    job = seen[seen.length - 1]!;
    assert.equal(JobState[job.state], "SUCCEEDED", job.failureReason);
    assert.equal(job.video, `videos/${init.videoId}`);
    assert.equal(job.percent, 100);
    assert.match(job.output?.masterPlaylistPath ?? "", /\/master\.m3u8$/);
  });

  it("reads the video READY over gRPC-Web, and its playlist from the edge", { timeout: 60_000 }, async (t) => {
    const deadline = Date.now() + 30_000;
    let reads = 0;
    for (;;) {
      const got = await webCatalog.getVideo({ name: `videos/${init.videoId}` });
      reads++;
      video = got.video!;
      if (video.status !== VideoStatus.PROCESSING || Date.now() > deadline) break;
      await sleep(200);
    }
    assert.equal(VideoStatus[video.status], "READY", video.failureReason);
    t.diagnostic(`READY on GetVideo call ${reads} after the job SUCCEEDED`);
    assert.equal(video.id, init.videoId);
    assert.equal(video.title, "ts-journey");
    assert.ok(video.renditions.length > 0);
    // "/hls/{video}/{version}/master.m3u8", absolute on the API's host; the same as the job's output.
    assert.match(video.masterPlaylistPath, new RegExp(`^/hls/${init.videoId}/[^/]+/master\\.m3u8$`));
    assert.equal(video.masterPlaylistPath, job.output?.masterPlaylistPath);
    const playlist = await fetch(new URL(video.masterPlaylistPath, baseUrl));
    assert.equal(playlist.status, 200);
    assert.match(await playlist.text(), /^#EXTM3U/);
  });

  it("lists the owner's videos one per page over gRPC-Web: the video appears exactly once", async () => {
    const ids: string[] = [];
    let pageToken = "";
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 1000, "paging ends");
      const page = await webCatalog.listVideos({ owner: video.owner, pageSize: 1, pageToken }, owner);
      assert.ok(page.videos.length <= 1, `page of ${page.videos.length}`);
      ids.push(...page.videos.map((v) => v.id));
      if (!page.nextPageToken) break;
      pageToken = page.nextPageToken;
    }
    assert.equal(ids.filter((id) => id === init.videoId).length, 1, ids.join(","));
  });

  it("answers an unknown video NOT_FOUND over gRPC-Web, echoing x-request-id", async () => {
    const name = "videos/no-such-video-ts";
    const err = await rejects(webCatalog.getVideo({ name }, { headers: { "x-request-id": "ts-journey-404" } }),
      Code.NotFound, "NOT_FOUND");
    assert.equal(err.findDetails(ErrorInfoSchema)[0]?.metadata["request_id"], "ts-journey-404");
    const [resource] = err.findDetails(ResourceInfoSchema);
    assert.ok(resource, "NOT_FOUND carries a ResourceInfo");
    assert.equal(resource.resourceName, name);
  });

  it("answers a call without a key, or with an unknown one, UNAUTHENTICATED", async () => {
    const request = { filename: "a.mp4", sizeBytes: 1n, title: "no key" };
    await rejects(upload.initUpload(request), Code.Unauthenticated, "API_KEY_REQUIRED");
    await rejects(upload.initUpload(request, bearer("not-a-key")), Code.Unauthenticated, "INVALID_API_KEY");
    await rejects(jobs.listJobs({}), Code.Unauthenticated, "API_KEY_REQUIRED");
  });

  it("refuses another owner's update and delete: PERMISSION_DENIED (NOT_OWNER)", async () => {
    const name = `videos/${init.videoId}`;
    const denied = [
      await rejects(catalog.updateVideo({ video: { name, title: "taken" }, updateMask: { paths: ["title"] } }, other),
        Code.PermissionDenied, "NOT_OWNER"),
      await rejects(catalog.deleteVideo({ name }, other), Code.PermissionDenied, "NOT_OWNER"),
    ];
    for (const err of denied) {
      const [resource] = err.findDetails(ResourceInfoSchema);
      assert.ok(resource, "PERMISSION_DENIED carries a ResourceInfo");
      assert.equal(resource.resourceName, name);
      assert.equal(resource.owner, video.owner);
    }
    const after = await webCatalog.getVideo({ name });
    assert.equal(after.video?.title, "ts-journey");
  });

  it("lets the owner delete it; then it is NOT_FOUND", async () => {
    const name = `videos/${init.videoId}`;
    await catalog.deleteVideo({ name }, owner);
    await catalog.deleteVideo({ name }, owner); // idempotent
    await rejects(webCatalog.getVideo({ name }, owner), Code.NotFound, "NOT_FOUND");
  });
});
