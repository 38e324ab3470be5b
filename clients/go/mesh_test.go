package vidmesh_test

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	catalogv1 "vidmesh.dev/gen/go/vidmesh/catalog/v1"
	transcodev1 "vidmesh.dev/gen/go/vidmesh/transcode/v1"
	typev1 "vidmesh.dev/gen/go/vidmesh/type/v1"
	uploadv1 "vidmesh.dev/gen/go/vidmesh/upload/v1"
)

// errorDomain is ErrorInfo.domain of every vidmesh error (vidmesh.type.v1.ErrorReason).
const errorDomain = "vidmesh.dev"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// env is what tests/integration/test_go_client.py hands the test.
type env struct {
	gateway, ownerKey, otherKey, video string
}

func readEnv(t *testing.T) env {
	t.Helper()
	e := env{
		gateway:  os.Getenv("VIDMESH_GATEWAY"),
		ownerKey: os.Getenv("VIDMESH_KEY_OWNER"),
		otherKey: os.Getenv("VIDMESH_KEY_OTHER"),
		video:    os.Getenv("VIDMESH_VIDEO"),
	}
	// Failing, not skipping: a skipped journey would pass silently when the harness breaks.
	if e.gateway == "" {
		t.Fatal("VIDMESH_GATEWAY is not set: this test needs a running mesh and is run by tests/integration/test_go_client.py")
	}
	if e.ownerKey == "" || e.otherKey == "" || e.video == "" {
		t.Fatal("VIDMESH_KEY_OWNER, VIDMESH_KEY_OTHER and VIDMESH_VIDEO must be set (see tests/integration/test_go_client.py)")
	}
	return e
}

// mesh holds the public services, all reached through the Envoy gateway.
type mesh struct {
	upload    uploadv1.UploadServiceClient
	catalog   catalogv1.CatalogServiceClient
	transcode transcodev1.TranscodeServiceClient
}

func dial(t *testing.T, gateway string) mesh {
	t.Helper()
	conn, err := grpc.NewClient(gateway, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", gateway, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return mesh{
		upload:    uploadv1.NewUploadServiceClient(conn),
		catalog:   catalogv1.NewCatalogServiceClient(conn),
		transcode: transcodev1.NewTranscodeServiceClient(conn),
	}
}

// as returns ctx carrying key the way the contract wants it: "authorization: Bearer <key>".
func as(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// withRequestID tags a call so its error can be checked for echoing the id.
func withRequestID(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-request-id", id)
}

// chunk returns the bytes of chunk index: chunkSize bytes, the last one possibly shorter.
func chunk(data []byte, chunkSize, index int32) []byte {
	start := int(index) * int(chunkSize)
	return data[start:min(start+int(chunkSize), len(data))]
}

// sendChunks streams the given chunks in one UploadChunks call. A chunk listed in corrupt goes
// out with a wrong crc32c. Returns the call's response or its status error.
func sendChunks(ctx context.Context, m mesh, name string, data []byte, chunkSize int32, indexes []int32, corrupt ...int32) (*uploadv1.UploadChunksResponse, error) {
	stream, err := m.upload.UploadChunks(ctx)
	if err != nil {
		return nil, err
	}
	for _, i := range indexes {
		part := chunk(data, chunkSize, i)
		sum := crc32.Checksum(part, castagnoli)
		for _, c := range corrupt {
			if c == i {
				sum ^= 1
			}
		}
		err := stream.Send(&uploadv1.UploadChunksRequest{Name: name, Index: i, Data: part, Crc32C: sum})
		if errors.Is(err, io.EOF) {
			break // the server ended the call (e.g. at a bad chunk): CloseAndRecv has its status
		}
		if err != nil {
			return nil, err
		}
	}
	return stream.CloseAndRecv()
}

// withFreeBox appends an ISO BMFF "free" box (which players and probes skip) until data holds at
// least size bytes, so a tiny clip still spans several of the smallest chunks the server allows.
func withFreeBox(data []byte, size int) []byte {
	pad := size - len(data)
	if pad <= 0 {
		return data
	}
	pad = max(pad, 8)
	box := make([]byte, pad)
	binary.BigEndian.PutUint32(box, uint32(pad))
	copy(box[4:], "free")
	return append(append([]byte{}, data...), box...)
}

// rpcError is a vidmesh error status taken apart.
type rpcError struct {
	info       *errdetails.ErrorInfo
	resource   *errdetails.ResourceInfo
	badRequest *errdetails.BadRequest
}

// wantError checks err against the error contract of vidmesh.type.v1.ErrorReason: the code, an
// ErrorInfo with domain "vidmesh.dev", the reason and a request_id, plus ResourceInfo for
// NOT_FOUND and PERMISSION_DENIED and BadRequest for INVALID_ARGUMENT. requestID, when set,
// must be echoed.
func wantError(t *testing.T, err error, code codes.Code, reason typev1.ErrorReason, requestID string) rpcError {
	t.Helper()
	var e rpcError
	st, ok := status.FromError(err)
	if err == nil || !ok {
		t.Fatalf("want %s (%s), got %v", code, reason, err)
	}
	if st.Code() != code {
		t.Errorf("want code %s (%s), got %s: %s", code, reason, st.Code(), st.Message())
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			e.info = d
		case *errdetails.ResourceInfo:
			e.resource = d
		case *errdetails.BadRequest:
			e.badRequest = d
		case error:
			t.Errorf("undecodable error detail: %v", d)
		}
	}
	if e.info == nil {
		t.Fatalf("%s carries no ErrorInfo (details: %v)", st.Code(), st.Details())
	}
	if e.info.GetDomain() != errorDomain || e.info.GetReason() != reason.String() {
		t.Errorf("want ErrorInfo %s/%s, got %s/%s (%s)", errorDomain, reason, e.info.GetDomain(), e.info.GetReason(), st.Message())
	}
	switch got := e.info.GetMetadata()["request_id"]; {
	case got == "":
		t.Errorf("ErrorInfo of %s has no request_id: %v", reason, e.info.GetMetadata())
	case requestID != "" && got != requestID:
		t.Errorf("ErrorInfo request_id = %q, want the x-request-id sent, %q", got, requestID)
	}
	switch code {
	case codes.NotFound, codes.PermissionDenied:
		if e.resource == nil {
			t.Fatalf("%s (%s) carries no ResourceInfo", code, reason)
		}
	case codes.InvalidArgument:
		if len(e.badRequest.GetFieldViolations()) == 0 {
			t.Errorf("INVALID_ARGUMENT (%s) carries no BadRequest field violation", reason)
		}
	}
	return e
}

// wantResource checks the ResourceInfo of a NOT_FOUND or PERMISSION_DENIED error.
func (e rpcError) wantResource(t *testing.T, name, owner string) {
	t.Helper()
	if e.resource.GetResourceType() == "" {
		t.Errorf("ResourceInfo of %s has no resource_type", name)
	}
	if got := e.resource.GetResourceName(); got != name {
		t.Errorf("ResourceInfo.resource_name = %q, want %q", got, name)
	}
	if got := e.resource.GetOwner(); got != owner {
		t.Errorf("ResourceInfo.owner = %q, want %q", got, owner)
	}
}
