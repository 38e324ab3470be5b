// Package vidmesh_test drives a running vidmesh mesh through its Envoy gateway with the Go code
// generated from the protos: a creator's journey from upload to a READY video, and the errors
// the protos promise on the way. tests/integration/test_go_client.py starts the mesh and runs it.
package vidmesh_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	catalogv1 "vidmesh.dev/gen/go/vidmesh/catalog/v1"
	transcodev1 "vidmesh.dev/gen/go/vidmesh/transcode/v1"
	typev1 "vidmesh.dev/gen/go/vidmesh/type/v1"
	uploadv1 "vidmesh.dev/gen/go/vidmesh/upload/v1"
)

// chunkSize is the smallest chunk the test mesh accepts (VIDMESH_UPLOAD_MIN_CHUNK_SIZE in
// tests/conftest.py; the proto's default minimum is 1 MiB), so a small clip makes several.
const chunkSize = 64 * 1024

func TestJourney(t *testing.T) {
	e := readEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	m := dial(t, e.gateway)
	owner, other := as(ctx, e.ownerKey), as(ctx, e.otherKey)

	clip, err := os.ReadFile(e.video)
	if err != nil {
		t.Fatal(err)
	}
	// At least three full chunks and a shorter last one: a 2 s test clip alone fits in one chunk.
	data := withFreeBox(clip, 3*chunkSize+chunkSize/2)
	digest := sha256.Sum256(data)

	// -- upload: init, a call cut short by a bad chunk, status, the rest, complete ---------------

	init, err := m.upload.InitUpload(owner, &uploadv1.InitUploadRequest{
		Filename: "journey.mp4", SizeBytes: int64(len(data)), ContentType: "video/mp4",
		Sha256: hex.EncodeToString(digest[:]), ChunkSizeBytes: chunkSize,
		Title: "Go journey", Tags: []string{"go", "journey"}, Visibility: typev1.Visibility_VISIBILITY_PUBLIC,
	})
	if err != nil {
		t.Fatalf("InitUpload: %v", err)
	}
	size, count := init.GetChunkSizeBytes(), init.GetChunkCount()
	if size <= 0 || int(count) != (len(data)+int(size)-1)/int(size) || count < 2 {
		t.Fatalf("InitUpload: chunk_size_bytes %d, chunk_count %d for %d bytes: want several chunks", size, count, len(data))
	}
	if !strings.HasPrefix(init.GetName(), "uploads/") || init.GetVideoId() == "" || !init.GetExpireTime().AsTime().After(time.Now()) {
		t.Fatalf("InitUpload: name %q, video_id %q, expire_time %v", init.GetName(), init.GetVideoId(), init.GetExpireTime().AsTime())
	}
	upload := init.GetName()
	all := make([]int32, count)
	for i := range all {
		all[i] = int32(i)
	}

	// Chunk 1 is corrupt: the call ends there, chunk 0 stays recorded, 1 and later are not.
	_, err = sendChunks(owner, m, upload, data, size, all, 1)
	if wantError(t, err, codes.DataLoss, typev1.ErrorReason_CHECKSUM_MISMATCH, "").info.GetMetadata()["index"] != "1" {
		t.Errorf("CHECKSUM_MISMATCH should name index 1: %v", err)
	}
	wantReceived(t, owner, m, upload, []int32{0})

	t.Run("other owner cannot see or touch the upload", func(t *testing.T) {
		// Proto: an upload is visible to its owner only; for anyone else NOT_FOUND (UPLOAD_NOT_FOUND).
		_, err := m.upload.GetUploadStatus(withRequestID(other, "go-journey-status"), &uploadv1.GetUploadStatusRequest{Name: upload})
		wantError(t, err, codes.NotFound, typev1.ErrorReason_UPLOAD_NOT_FOUND, "go-journey-status").wantResource(t, upload, "")
		_, err = sendChunks(other, m, upload, data, size, []int32{1})
		wantError(t, err, codes.NotFound, typev1.ErrorReason_UPLOAD_NOT_FOUND, "").wantResource(t, upload, "")
		_, err = m.upload.CompleteUpload(other, &uploadv1.CompleteUploadRequest{Name: upload})
		wantError(t, err, codes.NotFound, typev1.ErrorReason_UPLOAD_NOT_FOUND, "").wantResource(t, upload, "")
		_, err = m.upload.AbortUpload(other, &uploadv1.AbortUploadRequest{Name: upload})
		wantError(t, err, codes.NotFound, typev1.ErrorReason_UPLOAD_NOT_FOUND, "").wantResource(t, upload, "")
		wantReceived(t, owner, m, upload, []int32{0}) // nothing the other owner sent counted
	})

	// The missing chunks, in any order (here backwards), in a second call.
	missing := slices.Clone(all[1:])
	slices.Reverse(missing)
	sent, err := sendChunks(owner, m, upload, data, size, missing)
	if err != nil {
		t.Fatalf("UploadChunks: %v", err)
	}
	if !slices.Equal(sent.GetRecordedIndexes(), missing) || sent.GetReceivedCount() != count || sent.GetChunkCount() != count {
		t.Fatalf("UploadChunks: recorded %v, received %d of %d; want %v, %d of %d",
			sent.GetRecordedIndexes(), sent.GetReceivedCount(), sent.GetChunkCount(), missing, count, count)
	}
	st := wantReceived(t, owner, m, upload, all)
	if st.GetVideoId() != init.GetVideoId() || st.GetSizeBytes() != int64(len(data)) || st.GetChunkSizeBytes() != size {
		t.Errorf("GetUploadStatus: %v; want video_id %s, %d bytes in chunks of %d", st, init.GetVideoId(), len(data), size)
	}

	done, err := m.upload.CompleteUpload(owner, &uploadv1.CompleteUploadRequest{Name: upload})
	if err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	public := done.GetVideoName()
	if done.GetVideoId() != init.GetVideoId() || public != "videos/"+init.GetVideoId() {
		t.Fatalf("CompleteUpload: %v; want video %s", done, init.GetVideoId())
	}
	deleteLater(t, m, e.ownerKey, public)
	// Proto: retrying a completed upload returns the same video.
	if again, err := m.upload.CompleteUpload(owner, &uploadv1.CompleteUploadRequest{Name: upload}); err != nil || again.GetVideoName() != public {
		t.Errorf("CompleteUpload again: %v, %v; want %s", again, err, public)
	}

	// -- transcode and catalog -----------------------------------------------------------------

	job := transcoded(t, owner, m, public)
	video := readyVideo(t, owner, m, public, job)
	if video.GetOwner() == "" || video.GetTitle() != "Go journey" || video.GetSource().GetSizeBytes() != int64(len(data)) {
		t.Errorf("GetVideo: owner %q, title %q, source %v", video.GetOwner(), video.GetTitle(), video.GetSource())
	}
	ownerName := video.GetOwner()

	// A second video, sent in one call, so that paging has two of ours to find. Its visibility is
	// left unspecified, which the proto says servers treat as private.
	private := uploadWhole(t, owner, m, data, "Go journey, private", typev1.Visibility_VISIBILITY_UNSPECIFIED)
	deleteLater(t, m, e.ownerKey, private)
	if v := readyVideo(t, owner, m, private, transcoded(t, owner, m, private)); v.GetVisibility() != typev1.Visibility_VISIBILITY_PRIVATE {
		t.Errorf("video uploaded with visibility unspecified is %s, want VISIBILITY_PRIVATE", v.GetVisibility())
	}

	t.Run("owner's list pages through every video once, newest first", func(t *testing.T) {
		ids := listAll(t, owner, m, ownerName, 1)
		pub, priv := slices.Index(ids, idOf(public)), slices.Index(ids, idOf(private))
		if countOf(ids, idOf(public)) != 1 || countOf(ids, idOf(private)) != 1 {
			t.Fatalf("ListVideos(owner=%s, page_size=1): %v; want %s and %s once each", ownerName, ids, idOf(public), idOf(private))
		}
		if priv > pub {
			t.Errorf("ListVideos: %s (newer) listed after %s", idOf(private), idOf(public))
		}
		if dup := len(ids) - len(uniq(ids)); dup != 0 {
			t.Errorf("ListVideos: %d videos listed twice: %v", dup, ids)
		}
		// Another caller listing this owner sees the public video only.
		seen := listAll(t, other, m, ownerName, 1)
		if countOf(seen, idOf(public)) != 1 || countOf(seen, idOf(private)) != 0 {
			t.Errorf("ListVideos(owner=%s) by another owner: %v; want %s once, %s never", ownerName, seen, idOf(public), idOf(private))
		}
	})

	t.Run("job pages and tokens", func(t *testing.T) {
		first, err := m.transcode.ListJobs(owner, &transcodev1.ListJobsRequest{PageSize: 1})
		if err != nil || len(first.GetJobs()) != 1 || first.GetNextPageToken() == "" {
			t.Fatalf("ListJobs(page_size=1): %v, %v; want one job and a next page (we have two)", first, err)
		}
		_, err = m.transcode.ListJobs(owner, &transcodev1.ListJobsRequest{PageToken: "not-a-token"})
		wantError(t, err, codes.InvalidArgument, typev1.ErrorReason_INVALID_PAGE_TOKEN, "")
		_, err = m.transcode.ListJobs(other, &transcodev1.ListJobsRequest{PageSize: 1, PageToken: first.GetNextPageToken()})
		wantError(t, err, codes.InvalidArgument, typev1.ErrorReason_PAGE_TOKEN_MISMATCH, "")
		// Another owner's jobs do not exist for the caller.
		_, err = m.transcode.GetJob(other, &transcodev1.GetJobRequest{Name: job.GetName()})
		wantError(t, err, codes.NotFound, typev1.ErrorReason_NOT_FOUND, "").wantResource(t, job.GetName(), "")
		if theirs, err := m.transcode.ListJobs(other, &transcodev1.ListJobsRequest{Video: public}); err != nil || len(theirs.GetJobs()) != 0 {
			t.Errorf("ListJobs(video=%s) by another owner: %v, %v; want an empty list", public, theirs, err)
		}
	})

	t.Run("unknown video is NOT_FOUND", func(t *testing.T) {
		name := "videos/go-journey-no-such-video"
		_, err := m.catalog.GetVideo(withRequestID(owner, "go-journey-unknown"), &catalogv1.GetVideoRequest{Name: name})
		wantError(t, err, codes.NotFound, typev1.ErrorReason_NOT_FOUND, "go-journey-unknown").wantResource(t, name, "")
		// Another owner's private video is not revealed either.
		_, err = m.catalog.GetVideo(other, &catalogv1.GetVideoRequest{Name: private})
		wantError(t, err, codes.NotFound, typev1.ErrorReason_NOT_FOUND, "").wantResource(t, private, "")
	})

	t.Run("calls without a valid key are UNAUTHENTICATED", func(t *testing.T) {
		anonymous := withRequestID(ctx, "go-journey-anonymous")
		_, err := m.upload.InitUpload(anonymous, &uploadv1.InitUploadRequest{Filename: "a.mp4", SizeBytes: 1, Title: "a"})
		wantError(t, err, codes.Unauthenticated, typev1.ErrorReason_API_KEY_REQUIRED, "go-journey-anonymous")
		_, err = m.catalog.UpdateVideo(ctx, titleChange(public, "anonymous", ""))
		wantError(t, err, codes.Unauthenticated, typev1.ErrorReason_API_KEY_REQUIRED, "")
		_, err = m.transcode.ListJobs(ctx, &transcodev1.ListJobsRequest{})
		wantError(t, err, codes.Unauthenticated, typev1.ErrorReason_API_KEY_REQUIRED, "")
		_, err = m.catalog.UpdateVideo(as(ctx, "vmk_not-a-key"), titleChange(public, "forged", ""))
		wantError(t, err, codes.Unauthenticated, typev1.ErrorReason_INVALID_API_KEY, "")
		basic := metadata.AppendToOutgoingContext(ctx, "authorization", "Basic "+e.ownerKey)
		_, err = m.catalog.UpdateVideo(basic, titleChange(public, "basic", ""))
		wantError(t, err, codes.Unauthenticated, typev1.ErrorReason_MALFORMED_CREDENTIALS, "")
		// Reads of public data need no key.
		if _, err := m.catalog.GetVideo(ctx, &catalogv1.GetVideoRequest{Name: public}); err != nil {
			t.Errorf("GetVideo of a public video without a key: %v", err)
		}
	})

	t.Run("other owner cannot change the videos", func(t *testing.T) {
		// Visible (public) video: PERMISSION_DENIED, NOT_OWNER, ResourceInfo naming it and its owner.
		_, err := m.catalog.UpdateVideo(withRequestID(other, "go-journey-update"), titleChange(public, "taken over", ""))
		wantError(t, err, codes.PermissionDenied, typev1.ErrorReason_NOT_OWNER, "go-journey-update").wantResource(t, public, ownerName)
		_, err = m.catalog.DeleteVideo(other, &catalogv1.DeleteVideoRequest{Name: public})
		wantError(t, err, codes.PermissionDenied, typev1.ErrorReason_NOT_OWNER, "").wantResource(t, public, ownerName)
		// Invisible (private) video: NOT_FOUND, never PERMISSION_DENIED.
		_, err = m.catalog.UpdateVideo(other, titleChange(private, "taken over", ""))
		wantError(t, err, codes.NotFound, typev1.ErrorReason_NOT_FOUND, "").wantResource(t, private, "")
		_, err = m.catalog.DeleteVideo(other, &catalogv1.DeleteVideoRequest{Name: private})
		wantError(t, err, codes.NotFound, typev1.ErrorReason_NOT_FOUND, "").wantResource(t, private, "")
		for _, name := range []string{public, private} {
			got, err := m.catalog.GetVideo(owner, &catalogv1.GetVideoRequest{Name: name})
			if err != nil || !strings.HasPrefix(got.GetVideo().GetTitle(), "Go journey") {
				t.Errorf("after the other owner's attempts, GetVideo(%s): %v, %v", name, got, err)
			}
		}
	})

	t.Run("stale etag is ABORTED", func(t *testing.T) {
		read, err := m.catalog.GetVideo(owner, &catalogv1.GetVideoRequest{Name: public})
		if err != nil {
			t.Fatal(err)
		}
		stale := read.GetVideo().GetEtag()
		changed, err := m.catalog.UpdateVideo(owner, titleChange(public, "Go journey, renamed", stale))
		if err != nil || changed.GetVideo().GetTitle() != "Go journey, renamed" || changed.GetVideo().GetEtag() == stale {
			t.Fatalf("UpdateVideo with the current etag: %v, %v; want the new title and a new etag", changed, err)
		}
		_, err = m.catalog.UpdateVideo(withRequestID(owner, "go-journey-etag"), titleChange(public, "Go journey, lost update", stale))
		info := wantError(t, err, codes.Aborted, typev1.ErrorReason_ETAG_MISMATCH, "go-journey-etag").info
		if v := info.GetMetadata()["video"]; v != public && v != idOf(public) {
			t.Errorf("ETAG_MISMATCH metadata video = %q, want %s", v, public)
		}
		_, err = m.catalog.DeleteVideo(owner, &catalogv1.DeleteVideoRequest{Name: public, Etag: stale})
		wantError(t, err, codes.Aborted, typev1.ErrorReason_ETAG_MISMATCH, "")
		if got, err := m.catalog.GetVideo(owner, &catalogv1.GetVideoRequest{Name: public}); err != nil || got.GetVideo().GetTitle() != "Go journey, renamed" {
			t.Errorf("after the stale writes, GetVideo: %v, %v; want the renamed video", got, err)
		}
	})

	t.Run("owner deletes, idempotently", func(t *testing.T) {
		for _, name := range []string{public, private} {
			for range 2 {
				if _, err := m.catalog.DeleteVideo(owner, &catalogv1.DeleteVideoRequest{Name: name}); err != nil {
					t.Errorf("DeleteVideo(%s): %v", name, err)
				}
			}
			_, err := m.catalog.GetVideo(owner, &catalogv1.GetVideoRequest{Name: name})
			wantError(t, err, codes.NotFound, typev1.ErrorReason_NOT_FOUND, "").wantResource(t, name, "")
		}
	})
}

// wantReceived checks that GetUploadStatus lists exactly these chunks (ascending).
func wantReceived(t *testing.T, ctx context.Context, m mesh, upload string, want []int32) *uploadv1.GetUploadStatusResponse {
	t.Helper()
	st, err := m.upload.GetUploadStatus(ctx, &uploadv1.GetUploadStatusRequest{Name: upload})
	if err != nil {
		t.Fatalf("GetUploadStatus: %v", err)
	}
	if !slices.Equal(st.GetReceivedIndexes(), want) || st.GetName() != upload {
		t.Fatalf("GetUploadStatus: %s received %v, want %v", st.GetName(), st.GetReceivedIndexes(), want)
	}
	return st
}

// uploadWhole uploads data in one UploadChunks call and returns the video's name.
func uploadWhole(t *testing.T, ctx context.Context, m mesh, data []byte, title string, visibility typev1.Visibility) string {
	t.Helper()
	init, err := m.upload.InitUpload(ctx, &uploadv1.InitUploadRequest{
		Filename: "whole.mp4", SizeBytes: int64(len(data)), ChunkSizeBytes: chunkSize, Title: title, Visibility: visibility,
	})
	if err != nil {
		t.Fatalf("InitUpload: %v", err)
	}
	indexes := make([]int32, init.GetChunkCount())
	for i := range indexes {
		indexes[i] = int32(i)
	}
	if _, err := sendChunks(ctx, m, init.GetName(), data, init.GetChunkSizeBytes(), indexes); err != nil {
		t.Fatalf("UploadChunks: %v", err)
	}
	done, err := m.upload.CompleteUpload(ctx, &uploadv1.CompleteUploadRequest{Name: init.GetName()})
	if err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	return done.GetVideoName()
}

// transcoded finds the job of a video and watches it to the end, which must be SUCCEEDED.
func transcoded(t *testing.T, ctx context.Context, m mesh, video string) *transcodev1.Job {
	t.Helper()
	// CompleteUpload returns no job id: the video's job is found by listing.
	var name string
	for name == "" {
		jobs, err := m.transcode.ListJobs(ctx, &transcodev1.ListJobsRequest{Video: video})
		if err != nil {
			t.Fatalf("ListJobs(video=%s): %v", video, err)
		}
		if len(jobs.GetJobs()) > 0 {
			name = jobs.GetJobs()[0].GetName()
		} else {
			pause(t, ctx, "the job of "+video)
		}
	}
	watch := func() []*transcodev1.Job {
		stream, err := m.transcode.WatchJob(ctx, &transcodev1.WatchJobRequest{Name: name})
		if err != nil {
			t.Fatalf("WatchJob(%s): %v", name, err)
		}
		var seen []*transcodev1.Job
		for {
			msg, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return seen
			}
			if err != nil {
				t.Fatalf("WatchJob(%s) after %d messages: %v", name, len(seen), err)
			}
			if len(seen) > 0 && finished(seen[len(seen)-1]) {
				t.Fatalf("WatchJob(%s) went on after a terminal message: %v", name, msg.GetJob())
			}
			seen = append(seen, msg.GetJob())
		}
	}
	seen := watch()
	if len(seen) == 0 {
		t.Fatalf("WatchJob(%s) ended without a message", name)
	}
	job := seen[len(seen)-1]
	if job.GetState() != transcodev1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job %s of %s ended %s: %s", name, video, job.GetState(), job.GetFailureReason())
	}
	out := job.GetOutput()
	if job.GetName() != name || job.GetVideo() != video || job.GetPercent() != 100 || job.GetEndTime() == nil || out.GetVersion() == "" {
		t.Errorf("SUCCEEDED job: %v", job)
	}
	if want := fmt.Sprintf("/hls/%s/%s/master.m3u8", idOf(video), out.GetVersion()); out.GetMasterPlaylistPath() != want {
		t.Errorf("job output master_playlist_path = %q, want %q", out.GetMasterPlaylistPath(), want)
	}
	// Watching a finished job returns that one message.
	if again := watch(); len(again) != 1 || again[0].GetState() != transcodev1.JobState_JOB_STATE_SUCCEEDED {
		t.Errorf("WatchJob of a finished job sent %d messages: %v", len(again), again)
	}
	return job
}

// readyVideo reads a video whose job SUCCEEDED until it is READY, and checks its playlist path.
func readyVideo(t *testing.T, ctx context.Context, m mesh, name string, job *transcodev1.Job) *catalogv1.Video {
	t.Helper()
	for {
		got, err := m.catalog.GetVideo(ctx, &catalogv1.GetVideoRequest{Name: name})
		if err != nil {
			t.Fatalf("GetVideo(%s): %v", name, err)
		}
		v := got.GetVideo()
		switch v.GetStatus() {
		case catalogv1.VideoStatus_VIDEO_STATUS_READY:
			want := fmt.Sprintf("/hls/%s/%s/master.m3u8", v.GetId(), job.GetOutput().GetVersion())
			if v.GetMasterPlaylistPath() != want || v.GetMasterPlaylistPath() != job.GetOutput().GetMasterPlaylistPath() {
				t.Errorf("READY %s: master_playlist_path %q, want %q (as its job's output)", name, v.GetMasterPlaylistPath(), want)
			}
			if len(v.GetRenditions()) == 0 || v.GetName() != name || v.GetId() != idOf(name) {
				t.Errorf("READY video: %v", v)
			}
			return v
		case catalogv1.VideoStatus_VIDEO_STATUS_FAILED:
			t.Fatalf("%s FAILED: %s", name, v.GetFailureReason())
		}
		pause(t, ctx, name+" READY")
	}
}

// listAll pages through ListVideos of owner and returns the ids in order.
func listAll(t *testing.T, ctx context.Context, m mesh, owner string, pageSize int32) []string {
	t.Helper()
	var ids []string
	token := ""
	for pages := 1; ; pages++ {
		page, err := m.catalog.ListVideos(ctx, &catalogv1.ListVideosRequest{Owner: owner, PageSize: pageSize, PageToken: token})
		if err != nil {
			t.Fatalf("ListVideos page %d: %v", pages, err)
		}
		if len(page.GetVideos()) > int(pageSize) {
			t.Errorf("ListVideos(page_size=%d) page %d holds %d videos", pageSize, pages, len(page.GetVideos()))
		}
		for _, v := range page.GetVideos() {
			ids = append(ids, v.GetId())
		}
		if token = page.GetNextPageToken(); token == "" {
			return ids
		}
		if pages == 1000 {
			t.Fatalf("ListVideos: still a next page after %d pages", pages)
		}
	}
}

// deleteLater removes a video once the test ends, however it ends (deletes are idempotent).
func deleteLater(t *testing.T, m mesh, key, name string) {
	t.Cleanup(func() {
		_, _ = m.catalog.DeleteVideo(as(context.Background(), key), &catalogv1.DeleteVideoRequest{Name: name})
	})
}

func titleChange(name, title, etag string) *catalogv1.UpdateVideoRequest {
	return &catalogv1.UpdateVideoRequest{
		Video:      &catalogv1.Video{Name: name, Title: title, Etag: etag},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	}
}

func finished(job *transcodev1.Job) bool {
	return job.GetState() == transcodev1.JobState_JOB_STATE_SUCCEEDED || job.GetState() == transcodev1.JobState_JOB_STATE_FAILED
}

// pause waits a moment before polling again, failing once the test's deadline has passed.
func pause(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
		t.Fatalf("gave up waiting for %s: %v", what, ctx.Err())
	case <-time.After(200 * time.Millisecond):
	}
}

func idOf(name string) string { return name[strings.LastIndex(name, "/")+1:] }

func countOf(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

func uniq(ids []string) []string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	return slices.Compact(sorted)
}
