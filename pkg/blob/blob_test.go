package blob

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func hashOf(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func list(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func put(t *testing.T, s Store, data []byte) (v1.Hash, int64) {
	t.Helper()
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	// Written in pieces: the digest covers all of them.
	for chunk := range slices.Chunk(data, 7) {
		if n, err := w.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	d, n, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return d, n
}

func TestCreateCommit(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "blobs", "sha256")} // created on demand
	data := []byte("some blob content that is longer than one chunk")
	d, n := put(t, s, data)

	if want := hashOf(data); d != want {
		t.Errorf("Commit digest = %v, want %v", d, want)
	}
	if n != int64(len(data)) {
		t.Errorf("Commit size = %d, want %d", n, len(data))
	}
	if got := list(t, s.Dir); !slices.Equal(got, []string{d.Hex}) {
		t.Errorf("store holds %q, want only %s", got, d.Hex)
	}
	if s.Path(d) != filepath.Join(s.Dir, d.Hex) {
		t.Errorf("Path = %s", s.Path(d))
	}
	got, err := os.ReadFile(s.Path(d))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("stored content %q, %v; want %q", got, err, data)
	}
	fi, err := os.Stat(s.Path(d))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("blob mode %v, want 0644 (readable by others, e.g. a registry server)", fi.Mode())
	}

	if !s.Has(d, n) {
		t.Errorf("Has(%v, %d) = false after Commit", d, n)
	}
}

func TestCommitExisting(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	data := []byte("same")
	d1, _ := put(t, s, data)
	fi1, err := os.Stat(s.Path(d1))
	if err != nil {
		t.Fatal(err)
	}
	d2, n2 := put(t, s, data)
	if d1 != d2 || n2 != int64(len(data)) {
		t.Errorf("second Commit = %v %d, want %v %d", d2, n2, d1, len(data))
	}
	if got := list(t, s.Dir); !slices.Equal(got, []string{d1.Hex}) {
		t.Errorf("store holds %q after storing the same blob twice, want only %s", got, d1.Hex)
	}
	_ = fi1
	// A same-size damaged file under the digest's name (a flipped byte) is
	// replaced by what was just written and hashed, not trusted.
	if err := os.WriteFile(s.Path(d1), []byte("sAme"), 0o644); err != nil {
		t.Fatal(err)
	}
	put(t, s, data)
	if got, _ := os.ReadFile(s.Path(d1)); !bytes.Equal(got, data) {
		t.Errorf("a damaged blob of the same size was kept: %q", got)
	}
}

// A file under the digest's name with the wrong size (a damaged blob) is
// replaced by the new, complete one.
func TestCommitReplacesDamaged(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	data := []byte("complete content")
	d := hashOf(data)
	if err := os.WriteFile(s.Path(d), data[:5], 0o644); err != nil {
		t.Fatal(err)
	}
	if s.Has(d, int64(len(data))) {
		t.Fatal("Has accepted a blob of the wrong size")
	}
	put(t, s, data)
	got, _ := os.ReadFile(s.Path(d))
	if !bytes.Equal(got, data) {
		t.Errorf("blob holds %q, want %q", got, data)
	}
}

func TestAbort(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if got := list(t, s.Dir); len(got) != 1 || !strings.HasPrefix(got[0], tmpPrefix) {
		t.Errorf("while writing the store holds %q, want one %s file", got, tmpPrefix)
	}
	w.Abort()
	w.Abort() // twice is harmless
	if got := list(t, s.Dir); len(got) != 0 {
		t.Errorf("after Abort the store holds %q", got)
	}

	// Abort after Commit keeps the blob.
	w, err = s.Create()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("kept"))
	d, _, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if got := list(t, s.Dir); !slices.Equal(got, []string{d.Hex}) {
		t.Errorf("after Commit then Abort the store holds %q, want %s", got, d.Hex)
	}
}

func TestClean(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	d, _ := put(t, s, []byte("keep me"))
	for _, name := range []string{".tmp-123", ".tmp-abc", "other.tmp-1", ".tmpx", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(s.Dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A writer in progress is a temporary file too (Clean is only called
	// under the layout's lock, when no writer can be running).
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()

	if err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	want := []string{".tmpx", d.Hex, "notes.txt", "other.tmp-1"}
	slices.Sort(want)
	if got := list(t, s.Dir); !slices.Equal(got, want) {
		t.Errorf("after Clean the store holds %q, want %q", got, want)
	}

	if err := (Store{Dir: filepath.Join(s.Dir, "missing")}).Clean(); err != nil {
		t.Errorf("Clean of a missing directory: %v", err)
	}
}

func TestWriteJSON(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	v := map[string]any{"b": 1, "a": []string{"x"}}
	desc, err := s.WriteJSON(v, types.OCIConfigJSON)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(v)
	if desc.Digest != hashOf(want) || desc.Size != int64(len(want)) || desc.MediaType != types.OCIConfigJSON {
		t.Errorf("descriptor %+v, want digest %v size %d type %s", desc, hashOf(want), len(want), types.OCIConfigJSON)
	}
	got, err := os.ReadFile(s.Path(desc.Digest))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("stored %q, %v; want %q", got, err, want)
	}
	if !json.Valid(got) {
		t.Errorf("stored blob is not valid JSON: %q", got)
	}

	if _, err := s.WriteJSON(make(chan int), types.OCIConfigJSON); err == nil {
		t.Errorf("WriteJSON of a value JSON cannot encode succeeded")
	}
	if got := list(t, s.Dir); !slices.Equal(got, []string{desc.Digest.Hex}) {
		t.Errorf("store holds %q, want only %s", got, desc.Digest.Hex)
	}
}

func TestWriteBytes(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	desc, err := s.WriteBytes(nil, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	// The sha256 of nothing.
	if desc.Digest.Hex != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" || desc.Size != 0 {
		t.Errorf("empty blob: %+v", desc)
	}
	if !s.Has(desc.Digest, 0) {
		t.Errorf("Has(empty blob) = false")
	}
}

func TestHas(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	data := []byte("12345")
	d, _ := put(t, s, data)
	tests := []struct {
		name string
		h    v1.Hash
		size int64
		want bool
	}{
		{"right size", d, 5, true},
		{"smaller size", d, 4, false},
		{"larger size", d, 6, false},
		{"other digest", hashOf([]byte("other")), 5, false},
	}
	for _, tt := range tests {
		if got := s.Has(tt.h, tt.size); got != tt.want {
			t.Errorf("%s: Has = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A directory under a digest's name is not a blob.
	dh := hashOf([]byte("dir"))
	if err := os.Mkdir(s.Path(dh), 0o755); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(s.Path(dh))
	if s.Has(dh, fi.Size()) {
		t.Errorf("Has accepted a directory")
	}
}

func TestLink(t *testing.T) {
	root := t.TempDir()
	src := Store{Dir: filepath.Join(root, "a")}
	dst := Store{Dir: filepath.Join(root, "b", "blobs", "sha256")} // not there yet
	data := []byte("linked content")
	d, n := put(t, src, data)

	if err := dst.Link(src, d); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst.Path(d))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("linked blob holds %q, %v; want %q", got, err, data)
	}
	if !dst.Has(d, n) {
		t.Errorf("Has = false after Link")
	}
	fa, _ := os.Stat(src.Path(d))
	fb, _ := os.Stat(dst.Path(d))
	if os.SameFile(fa, fb) {
		t.Errorf("Link made a hard link: corrupting one copy would corrupt the other")
	}

	// Linking again, with the blob already there, is fine.
	if err := dst.Link(src, d); err != nil {
		t.Errorf("second Link: %v", err)
	}
	if got := list(t, dst.Dir); !slices.Equal(got, []string{d.Hex}) {
		t.Errorf("destination holds %q, want only %s", got, d.Hex)
	}

	// From a Fresh store (a build this process just wrote) the copy is
	// the kernel's, and as independent.
	fresh := Store{Dir: src.Dir, Fresh: true}
	dst2 := Store{Dir: filepath.Join(root, "c")}
	if err := dst2.Link(fresh, d); err != nil {
		t.Fatal(err)
	}
	fc, _ := os.Stat(dst2.Path(d))
	if got, err := os.ReadFile(dst2.Path(d)); err != nil || !bytes.Equal(got, data) || os.SameFile(fa, fc) {
		t.Errorf("Link from a fresh store: %q, %v, same file %v; want an independent copy of %q", got, err, os.SameFile(fa, fc), data)
	}

	// A blob the source does not have is an error, and nothing is left behind.
	missing := hashOf([]byte("missing"))
	if err := dst.Link(src, missing); err == nil {
		t.Errorf("Link of a missing blob succeeded")
	}
	if got := list(t, dst.Dir); !slices.Equal(got, []string{d.Hex}) {
		t.Errorf("after a failed Link the destination holds %q", got)
	}
}

// TestLinkIndependentCopies: Link never shares a file between stores (a
// corrupted output blob corrupted .kiln through a hard link), and a
// corrupt source is refused with a CorruptError, storing nothing.
func TestLinkIndependentCopies(t *testing.T) {
	root := t.TempDir()
	src := Store{Dir: filepath.Join(root, "kiln")}
	dst := Store{Dir: filepath.Join(root, "out")}
	data := []byte("layer bytes")
	d, _ := put(t, src, data)
	if err := dst.Link(src, d); err != nil {
		t.Fatal(err)
	}
	// Damage the output's copy in place, as a disk or a user might.
	f, err := os.OpenFile(dst.Path(d), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("X"), 0)
	f.Close()
	if got, _ := os.ReadFile(src.Path(d)); !bytes.Equal(got, data) {
		t.Fatalf("damaging the linked copy damaged the source: %q", got)
	}

	// A damaged source is not copied on.
	other := Store{Dir: filepath.Join(root, "other")}
	err = other.Link(dst, d)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Digest != d || ce.Path != dst.Path(d) {
		t.Fatalf("Link of a damaged blob = %v, want a CorruptError naming %s", err, dst.Path(d))
	}
	if got := list(t, other.Dir); len(got) != 0 {
		t.Errorf("a failed Link left %q", got)
	}
}

// Large writes are hashed beside the file's write; the digest is that of
// the bytes whatever the sizes of the writes, across the size from which
// the hash goes aside.
func TestWriteSizes(t *testing.T) {
	data := make([]byte, 3*hashAside+17)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	for _, chunk := range []int{1000, hashAside - 1, hashAside, hashAside + 1, len(data)} {
		s := Store{Dir: t.TempDir()}
		w, err := s.Create()
		if err != nil {
			t.Fatal(err)
		}
		for rest := data; len(rest) > 0; {
			k := min(chunk, len(rest))
			if n, err := w.Write(rest[:k]); n != k || err != nil {
				t.Fatalf("chunk %d: Write = %d, %v", chunk, n, err)
			}
			rest = rest[k:]
		}
		d, n, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		if d != hashOf(data) || n != int64(len(data)) {
			t.Fatalf("chunk %d: committed %s (%d bytes), want %s (%d)", chunk, d, n, hashOf(data), len(data))
		}
		if got, err := os.ReadFile(s.Path(d)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("chunk %d: stored blob differs (%v)", chunk, err)
		}
	}
}

// A write that fails leaves a blob that cannot be committed, small or
// large: its hash may hold bytes the file does not.
func TestFailedWriteNotCommitted(t *testing.T) {
	for _, size := range []int{10, hashAside} {
		s := Store{Dir: t.TempDir()}
		w, err := s.Create()
		if err != nil {
			t.Fatal(err)
		}
		w.f.Close() // the file fails under the writer
		if _, err := w.Write(make([]byte, size)); err == nil {
			t.Fatalf("size %d: Write to a closed file succeeded", size)
		}
		if _, err := w.Write([]byte("more")); err == nil {
			t.Fatalf("size %d: Write after a failed write succeeded", size)
		}
		if _, _, err := w.Commit(); err == nil {
			t.Fatalf("size %d: Commit after a failed write succeeded", size)
		}
		if err := w.Verify(hashOf(nil)); err == nil {
			t.Fatalf("size %d: Verify after a failed write succeeded", size)
		}
		if names := list(t, s.Dir); len(names) != 0 {
			t.Fatalf("size %d: left %v", size, names)
		}
	}
}
