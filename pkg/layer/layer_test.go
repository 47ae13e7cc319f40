package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"golang.org/x/crypto/x509roots/fallback/bundle"
	"io"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/blob"
)

// entry is what a test sees of one tar entry.
type entry struct {
	hdr  *tar.Header
	data []byte
}

// readTar decompresses and reads a whole layer blob with the standard
// library, independently of the code that wrote it.
func readTar(t *testing.T, blobPath string) []entry {
	t.Helper()
	f, err := os.Open(blobPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzip: %v", blobPath, err)
	}
	tr := tar.NewReader(gz)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{h, data})
	}
	if _, err := io.Copy(io.Discard, gz); err != nil {
		t.Fatalf("gzip stream: %v", err)
	}
	return out
}

func byName(es []entry) map[string]entry {
	m := map[string]entry{}
	for _, e := range es {
		m[strings.TrimSuffix(e.hdr.Name, "/")] = e
	}
	return m
}

func names(es []entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.hdr.Name)
	}
	return out
}

func writeFile(t *testing.T, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // regardless of the umask
		t.Fatal(err)
	}
}

func write(t *testing.T, tree *Tree, opt Options) *Layer {
	t.Helper()
	l, err := Write(context.Background(), blob.Store{Dir: t.TempDir()}, tree, opt)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return l
}

func digestOf(t *testing.T, tree *Tree, opt Options) v1.Hash {
	t.Helper()
	d, err := write(t, tree, opt).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var sourceDate = time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)

func TestWrite(t *testing.T) {
	host := t.TempDir()
	appBin := filepath.Join(host, "app")
	writeFile(t, appBin, []byte("\x7fELF pretend binary"), 0o600)

	tree := NewTree()
	tree.AddBytes("/etc/app/config.json", []byte(`{"a":1}`), 0o640)
	if err := tree.AddFile("/usr/local/bin/app", appBin, 0o755); err != nil {
		t.Fatal(err)
	}
	tree.AddSymlink("/usr/local/bin/app-alias", "app")
	tree.AddDir("/var/lib/app", 0o750, 1000, 1001)
	tree.AddBytes("/a-c", []byte("x"), 0o644)
	tree.AddBytes("a/b", []byte("y"), 0o4755) // relative name, setuid
	tree.AddBytes("/a/./z/../c", []byte("z"), 0o644)
	tree.AddDir("/tmp", 0o1777, 0, 0)

	// Nanoseconds are dropped: tar stores seconds.
	opt := Options{ModTime: sourceDate.Add(999 * time.Millisecond).In(time.FixedZone("X", 3600))}
	l := write(t, tree, opt)
	es := readTar(t, l.Path)

	wantNames := []string{
		"a/", "a/b", "a/c", "a-c",
		"etc/", "etc/app/", "etc/app/config.json",
		"tmp/",
		"usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/app", "usr/local/bin/app-alias",
		"var/", "var/lib/", "var/lib/app/",
	}
	if got := names(es); !slices.Equal(got, wantNames) {
		t.Fatalf("entries\n got %q\nwant %q", got, wantNames)
	}

	seen := map[string]bool{}
	for _, e := range es {
		h := e.hdr
		name := strings.TrimSuffix(h.Name, "/")
		if strings.HasPrefix(h.Name, "/") || strings.Contains(h.Name, "./") {
			t.Errorf("%q: entry names must be relative and clean", h.Name)
		}
		// Every parent directory is an explicit entry that comes first.
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if !seen[d] {
				t.Errorf("%q comes before (or without) its parent directory %q", h.Name, d)
			}
		}
		seen[name] = true
		if !h.ModTime.Equal(sourceDate) {
			t.Errorf("%q: ModTime %v, want %v", h.Name, h.ModTime, sourceDate)
		}
		if (h.Typeflag == tar.TypeDir) != strings.HasSuffix(h.Name, "/") {
			t.Errorf("%q: type %c; directory names end in / and only they do", h.Name, h.Typeflag)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%q: owner names %q:%q, want none (they depend on the host)", h.Name, h.Uname, h.Gname)
		}
	}

	m := byName(es)
	tests := []struct {
		name     string
		typ      byte
		mode     int64
		uid, gid int
		data     string
		link     string
	}{
		{"a", tar.TypeDir, 0o755, 0, 0, "", ""}, // implied
		{"a/b", tar.TypeReg, 0o4755, 0, 0, "y", ""},
		{"a/c", tar.TypeReg, 0o644, 0, 0, "z", ""},
		{"etc/app/config.json", tar.TypeReg, 0o640, 0, 0, `{"a":1}`, ""},
		{"usr/local/bin", tar.TypeDir, 0o755, 0, 0, "", ""},
		{"usr/local/bin/app", tar.TypeReg, 0o755, 0, 0, "\x7fELF pretend binary", ""},
		{"usr/local/bin/app-alias", tar.TypeSymlink, 0o777, 0, 0, "", "app"},
		{"var/lib/app", tar.TypeDir, 0o750, 1000, 1001, "", ""},
		{"tmp", tar.TypeDir, 0o1777, 0, 0, "", ""},
	}
	for _, tt := range tests {
		e, ok := m[tt.name]
		if !ok {
			t.Errorf("%s missing", tt.name)
			continue
		}
		h := e.hdr
		if h.Typeflag != tt.typ || h.Mode != tt.mode || h.Uid != tt.uid || h.Gid != tt.gid || string(e.data) != tt.data || h.Linkname != tt.link {
			t.Errorf("%s: type %c mode %o owner %d:%d link %q content %q; want type %c mode %o owner %d:%d link %q content %q",
				tt.name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, e.data,
				tt.typ, tt.mode, tt.uid, tt.gid, tt.link, tt.data)
		}
		if h.Size != int64(len(tt.data)) {
			t.Errorf("%s: size %d, want %d", tt.name, h.Size, len(tt.data))
		}
	}

	if tree.Len() != 8 {
		t.Errorf("Len() = %d, want the 8 entries added", tree.Len())
	}
	if want := int64(len(`{"a":1}`) + len("\x7fELF pretend binary") + 3); tree.ContentSize() != want {
		t.Errorf("ContentSize() = %d, want %d", tree.ContentSize(), want)
	}
}

// The layer's digests are those of the bytes it stored.
func TestWriteDigests(t *testing.T) {
	tree := NewTree()
	tree.AddBytes("/hello.txt", bytes.Repeat([]byte("hello\n"), 10000), 0o644)
	store := blob.Store{Dir: t.TempDir()}
	l, err := Write(context.Background(), store, tree, Options{ModTime: sourceDate})
	if err != nil {
		t.Fatal(err)
	}

	compressed, err := os.ReadFile(l.Path)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		t.Fatal(err)
	}
	uncompressed, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(b []byte) v1.Hash {
		s := sha256.Sum256(b)
		return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
	}

	digest, _ := l.Digest()
	diffID, _ := l.DiffID()
	size, _ := l.Size()
	mt, _ := l.MediaType()
	if digest != sum(compressed) {
		t.Errorf("Digest() = %v, but the blob hashes to %v", digest, sum(compressed))
	}
	if diffID != sum(uncompressed) {
		t.Errorf("DiffID() = %v, but the tar hashes to %v", diffID, sum(uncompressed))
	}
	if size != int64(len(compressed)) {
		t.Errorf("Size() = %d, blob has %d bytes", size, len(compressed))
	}
	if digest == diffID {
		t.Errorf("digest and diffID are equal: the blob is not compressed")
	}
	if l.Path != store.Path(digest) || filepath.Base(l.Path) != digest.Hex {
		t.Errorf("Path = %s, want the store's path for %s", l.Path, digest)
	}
	if mt != types.OCILayer {
		t.Errorf("MediaType() = %s, want %s", mt, types.OCILayer)
	}
	if d := l.Descriptor(); d.Digest != digest || d.Size != size || d.MediaType != types.OCILayer {
		t.Errorf("Descriptor() = %+v", d)
	}

	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, compressed) {
		t.Errorf("Compressed() differs from the blob file")
	}
	rc, err = l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rc)
	if err := rc.Close(); err != nil {
		t.Errorf("closing Uncompressed(): %v", err)
	}
	if !bytes.Equal(got, uncompressed) {
		t.Errorf("Uncompressed() differs from the decompressed blob")
	}

	// Only the blob is left in the store: no temporary files.
	ents, err := os.ReadDir(store.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != digest.Hex {
		t.Errorf("store holds %v, want only %s", ents, digest.Hex)
	}
}

// makeHostDir creates the same content in a new directory, with the given
// umask, file permission bits (the executable bits of app are kept) and
// modification time.
func makeHostDir(t *testing.T, umask int, fileMode, exeMode os.FileMode, mtime time.Time, reverse bool) string {
	t.Helper()
	old := syscall.Umask(umask)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	files := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{"index.html", "<h1>hi</h1>", fileMode},
		{"css/site.css", "body{}", fileMode},
		{"bin/app", "#!/bin/sh\necho hi\n", exeMode},
		{"deep/er/still/file.txt", "deep", fileMode},
	}
	if reverse {
		slices.Reverse(files)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("css/site.css", filepath.Join(dir, "style.css")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o777); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(p, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestDeterminism(t *testing.T) {
	opt := Options{ModTime: sourceDate}

	t.Run("order of adding", func(t *testing.T) {
		add := []func(*Tree){
			func(t *Tree) { t.AddBytes("/etc/b", []byte("b"), 0o644) },
			func(t *Tree) { t.AddBytes("/etc/a", []byte("a"), 0o600) },
			func(t *Tree) { t.AddSymlink("/etc/c", "a") },
			func(t *Tree) { t.AddDir("/srv/x", 0o700, 5, 5) },
			func(t *Tree) { t.AddBytes("/srv/x/y", []byte("y"), 0o644) },
			func(t *Tree) { t.AddBytes("/srv-z", []byte("z"), 0o644) },
		}
		t1, t2 := NewTree(), NewTree()
		for i := range add {
			add[i](t1)
			add[len(add)-1-i](t2)
		}
		d1, d2 := digestOf(t, t1, opt), digestOf(t, t2, opt)
		if d1 != d2 {
			t.Errorf("same content added in another order: %v != %v", d1, d2)
		}
	})

	t.Run("host files", func(t *testing.T) {
		a := makeHostDir(t, 0o022, 0o644, 0o755, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), false)
		b := makeHostDir(t, 0o077, 0o600, 0o700, time.Date(2024, 6, 7, 8, 9, 10, 11, time.UTC), true)
		c := makeHostDir(t, 0o000, 0o666, 0o777, time.Now(), false)
		var digests []v1.Hash
		for _, dir := range []string{a, b, c} {
			tree := NewTree()
			if err := tree.AddHostDir(dir, "/srv/www"); err != nil {
				t.Fatal(err)
			}
			if err := tree.AddFile("/app", filepath.Join(dir, "bin/app"), 0o755); err != nil {
				t.Fatal(err)
			}
			digests = append(digests, digestOf(t, tree, opt))
		}
		if digests[0] != digests[1] || digests[0] != digests[2] {
			t.Errorf("same content with other host mtimes, permissions and umask gives digests %v", digests)
		}

		// Sanity: the executable bit does count.
		d := makeHostDir(t, 0o022, 0o644, 0o644, time.Now(), false)
		tree := NewTree()
		if err := tree.AddHostDir(d, "/srv/www"); err != nil {
			t.Fatal(err)
		}
		if err := tree.AddFile("/app", filepath.Join(d, "bin/app"), 0o755); err != nil {
			t.Fatal(err)
		}
		if got := digestOf(t, tree, opt); got == digests[0] {
			t.Errorf("a file losing its executable bit did not change the digest")
		}
	})

	t.Run("written twice into one store", func(t *testing.T) {
		store := blob.Store{Dir: t.TempDir()}
		tree := NewTree()
		tree.AddBytes("/x", []byte("x"), 0o644)
		l1, err := Write(context.Background(), store, tree, opt)
		if err != nil {
			t.Fatal(err)
		}
		l2, err := Write(context.Background(), store, tree, opt)
		if err != nil {
			t.Fatal(err)
		}
		if l1.digest != l2.digest || l1.diffID != l2.diffID || l1.size != l2.size {
			t.Errorf("two writes differ: %+v %+v", l1, l2)
		}
		if ents, _ := os.ReadDir(store.Dir); len(ents) != 1 {
			t.Errorf("store holds %d files, want 1", len(ents))
		}
	})

	t.Run("what does change the digest", func(t *testing.T) {
		base := func() *Tree {
			tr := NewTree()
			tr.AddBytes("/x", []byte("x"), 0o644)
			return tr
		}
		d0 := digestOf(t, base(), opt)
		changes := map[string]func() (*Tree, Options){
			"mtime":   func() (*Tree, Options) { return base(), Options{ModTime: sourceDate.Add(time.Second)} },
			"mode":    func() (*Tree, Options) { tr := base(); tr.AddBytes("/x", []byte("x"), 0o600); return tr, opt },
			"content": func() (*Tree, Options) { tr := base(); tr.AddBytes("/x", []byte("y"), 0o644); return tr, opt },
			"owner":   func() (*Tree, Options) { tr := base(); tr.AddDir("/d", 0o755, 1, 0); return tr, opt },
		}
		for name, f := range changes {
			tr, o := f()
			if d := digestOf(t, tr, o); d == d0 {
				t.Errorf("changing the %s did not change the digest", name)
			}
		}
	})
}

func TestAddHostDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sub", "file.txt"), []byte("content"), 0o600)
	writeFile(t, filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o700)
	if err := os.Chmod(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"link.txt":     "sub/file.txt",
		"sub/up.sh":    "../run.sh",
		"sub/self":     ".",
		"dirlink":      "sub",
		"sub/dangling": "missing", // inside, though nothing is there
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}

	tree := NewTree()
	if err := tree.AddHostDir(dir, "/srv/data"); err != nil {
		t.Fatal(err)
	}
	es := readTar(t, write(t, tree, Options{ModTime: sourceDate}).Path)
	m := byName(es)
	want := map[string]struct {
		typ  byte
		mode int64
		link string
		data string
	}{
		"srv":                   {tar.TypeDir, 0o755, "", ""},
		"srv/data":              {tar.TypeDir, 0o755, "", ""},
		"srv/data/sub":          {tar.TypeDir, 0o755, "", ""}, // 0700 on the host
		"srv/data/sub/file.txt": {tar.TypeReg, 0o644, "", "content"},
		"srv/data/run.sh":       {tar.TypeReg, 0o755, "", "#!/bin/sh\n"}, // 0700 on the host
		"srv/data/link.txt":     {tar.TypeSymlink, 0o777, "sub/file.txt", ""},
		"srv/data/sub/up.sh":    {tar.TypeSymlink, 0o777, "../run.sh", ""},
		"srv/data/sub/self":     {tar.TypeSymlink, 0o777, ".", ""},
		"srv/data/dirlink":      {tar.TypeSymlink, 0o777, "sub", ""},
		"srv/data/sub/dangling": {tar.TypeSymlink, 0o777, "missing", ""},
	}
	if len(m) != len(want) {
		t.Errorf("layer has %q, want %d entries", names(es), len(want))
	}
	for name, w := range want {
		e, ok := m[name]
		if !ok {
			t.Errorf("%s missing from %q", name, names(es))
			continue
		}
		if e.hdr.Typeflag != w.typ || e.hdr.Mode != w.mode || e.hdr.Linkname != w.link || string(e.data) != w.data {
			t.Errorf("%s: type %c mode %o link %q data %q, want type %c mode %o link %q data %q",
				name, e.hdr.Typeflag, e.hdr.Mode, e.hdr.Linkname, e.data, w.typ, w.mode, w.link, w.data)
		}
		if e.hdr.Uid != 0 || e.hdr.Gid != 0 {
			t.Errorf("%s: owner %d:%d, want root", name, e.hdr.Uid, e.hdr.Gid)
		}
	}
}

func TestAddHostDirRefuses(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, dir string) string // returns the bad file
		want []string
	}{
		{
			name: "absolute symlink",
			make: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "sub", "abs")
				if err := os.Symlink("/etc/hostname", p); err != nil {
					t.Fatal(err)
				}
				return p
			},
			want: []string{"absolute path /etc/hostname", "relative link"},
		},
		{
			name: "symlink to the parent",
			make: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "up")
				if err := os.Symlink("..", p); err != nil {
					t.Fatal(err)
				}
				return p
			},
			want: []string{"outside", "links must stay inside"},
		},
		{
			name: "symlink escaping through a subdirectory",
			make: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "sub", "esc")
				if err := os.Symlink("../../outside.txt", p); err != nil {
					t.Fatal(err)
				}
				return p
			},
			want: []string{"points to ../../outside.txt", "outside"},
		},
		{
			name: "symlink to a sibling with a common prefix",
			make: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "sib")
				if err := os.Symlink("../"+filepath.Base(dir)+"-other/x", p); err != nil {
					t.Fatal(err)
				}
				return p
			},
			want: []string{"outside"},
		},
		{
			name: "named pipe",
			make: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "sub", "fifo")
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			},
			want: []string{"named pipe", "cannot go into an image"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			writeFile(t, filepath.Join(dir, "sub", "ok.txt"), []byte("ok"), 0o644)
			bad := tt.make(t, dir)
			tree := NewTree()
			err := tree.AddHostDir(dir, "/data")
			if err == nil {
				t.Fatalf("AddHostDir accepted %s", bad)
			}
			for _, w := range append(tt.want, bad) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestAddHostDirUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: permissions do not stop root from reading a file")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	writeFile(t, p, []byte("s"), 0o000)
	err := NewTree().AddHostDir(dir, "/d")
	if err == nil || !strings.Contains(err.Error(), "cannot read "+p) {
		t.Errorf("AddHostDir error = %v, want one naming %s", err, p)
	}
}

func TestAddHostDirMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope")
	err := NewTree().AddHostDir(p, "/d")
	if err == nil || !strings.Contains(err.Error(), p) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("AddHostDir of a missing directory: %v", err)
	}
}

func TestAddFile(t *testing.T) {
	dir := t.TempDir()
	tree := NewTree()
	if err := tree.AddFile("/x", dir, 0o644); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("AddFile of a directory: %v", err)
	}
	if err := tree.AddFile("/x", filepath.Join(dir, "missing"), 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("AddFile of a missing file: %v", err)
	}
	if tree.Len() != 0 {
		t.Errorf("failed AddFile calls added %d entries", tree.Len())
	}
}

func fingerprint(t *testing.T, tree *Tree) string {
	t.Helper()
	var b bytes.Buffer
	if err := tree.Fingerprint(&b, hashFile); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestFingerprint(t *testing.T) {
	a := makeHostDir(t, 0o022, 0o644, 0o755, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), false)
	b := makeHostDir(t, 0o077, 0o600, 0o700, time.Now(), true)
	tree := func(dir string) *Tree {
		tr := NewTree()
		if err := tr.AddHostDir(dir, "/www"); err != nil {
			t.Fatal(err)
		}
		tr.AddBytes("/etc/x", []byte("x"), 0o644)
		return tr
	}
	fa, fb := fingerprint(t, tree(a)), fingerprint(t, tree(b))
	if fa != fb {
		t.Errorf("equal trees have different fingerprints:\n%s\n%s", fa, fb)
	}
	if fa == "" {
		t.Fatal("empty fingerprint")
	}

	// One byte changes, same size and mtime.
	p := filepath.Join(b, "deep/er/still/file.txt")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, []byte("deeP"), 0o600)
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if fc := fingerprint(t, tree(b)); fc == fa {
		t.Errorf("changing one byte of a file did not change the fingerprint")
	}

	// In-memory content counts too.
	t1, t2 := NewTree(), NewTree()
	t1.AddBytes("/f", []byte("abc"), 0o644)
	t2.AddBytes("/f", []byte("abd"), 0o644)
	if fingerprint(t, t1) == fingerprint(t, t2) {
		t.Errorf("trees with different bytes have the same fingerprint")
	}
	// So do mode, owner and link target.
	t3 := NewTree()
	t3.AddBytes("/f", []byte("abc"), 0o755)
	t4 := NewTree()
	t4.AddDir("/d", 0o755, 1, 1)
	t5 := NewTree()
	t5.AddDir("/d", 0o755, 0, 0)
	t6, t7 := NewTree(), NewTree()
	t6.AddSymlink("/l", "a")
	t7.AddSymlink("/l", "b")
	if fingerprint(t, t1) == fingerprint(t, t3) || fingerprint(t, t4) == fingerprint(t, t5) || fingerprint(t, t6) == fingerprint(t, t7) {
		t.Errorf("mode, owner or link target changes do not change the fingerprint")
	}

	// A file that cannot be read any more is an error.
	t8 := NewTree()
	src := filepath.Join(t.TempDir(), "f")
	writeFile(t, src, []byte("f"), 0o644)
	if err := t8.AddFile("/f", src, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(src)
	if err := t8.Fingerprint(io.Discard, hashFile); err == nil || !strings.Contains(err.Error(), src) {
		t.Errorf("Fingerprint of a removed file: %v, want an error naming it", err)
	}
}

func TestSystem(t *testing.T) {
	l := write(t, System(), Options{ModTime: sourceDate})
	es := readTar(t, l.Path)
	m := byName(es)

	certs, ok := m[strings.TrimPrefix(CertsPath, "/")]
	if !ok {
		t.Fatalf("%s missing from %q", CertsPath, names(es))
	}
	if certs.hdr.Mode != 0o644 || certs.hdr.Typeflag != tar.TypeReg {
		t.Errorf("%s: type %c mode %o", CertsPath, certs.hdr.Typeflag, certs.hdr.Mode)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certs.data) {
		t.Fatalf("%s holds no PEM certificates", CertsPath)
	}
	n := 0
	for rest := certs.data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			t.Errorf("PEM block %d is a %q", n, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Errorf("certificate %d: %v", n, err)
		}
		n++
	}
	if n <= 100 {
		t.Errorf("CA bundle has %d certificates, want more than 100", n)
	}
	if !bytes.Equal(certs.data, CABundle()) {
		t.Errorf("the layer's CA bundle differs from CABundle()")
	}

	for link := range certLinks {
		e, ok := m[strings.TrimPrefix(link, "/")]
		if !ok {
			t.Errorf("%s missing", link)
			continue
		}
		if e.hdr.Typeflag != tar.TypeSymlink {
			t.Errorf("%s is not a symlink", link)
			continue
		}
		if got := path.Join(path.Dir(link), e.hdr.Linkname); got != CertsPath {
			t.Errorf("%s -> %s resolves to %s, want %s", link, e.hdr.Linkname, got, CertsPath)
		}
	}

	passwd := string(m["etc/passwd"].data)
	for _, line := range []string{"root:x:0:0:", "nonroot:x:65532:65532:nonroot:/home/nonroot:"} {
		if !strings.Contains(passwd, "\n"+line) && !strings.HasPrefix(passwd, line) {
			t.Errorf("/etc/passwd has no line starting %q:\n%s", line, passwd)
		}
	}
	group := string(m["etc/group"].data)
	for _, line := range []string{"root:x:0:", "nonroot:x:65532:"} {
		if !strings.Contains(group, line) {
			t.Errorf("/etc/group lacks %q:\n%s", line, group)
		}
	}

	dirs := []struct {
		name     string
		mode     int64
		uid, gid int
	}{
		{"tmp", 0o1777, 0, 0},
		{"home/nonroot", 0o700, 65532, 65532},
		{"root", 0o700, 0, 0},
		{"etc", 0o755, 0, 0},
		{"etc/ssl/certs", 0o755, 0, 0},
	}
	for _, d := range dirs {
		e, ok := m[d.name]
		if !ok {
			t.Errorf("/%s missing", d.name)
			continue
		}
		if e.hdr.Typeflag != tar.TypeDir || e.hdr.Mode != d.mode || e.hdr.Uid != d.uid || e.hdr.Gid != d.gid {
			t.Errorf("/%s: type %c mode %o owner %d:%d; want dir %o %d:%d",
				d.name, e.hdr.Typeflag, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid, d.mode, d.uid, d.gid)
		}
	}

	// System() is the same every time.
	if d1, d2 := digestOf(t, System(), Options{ModTime: sourceDate}), digestOf(t, System(), Options{ModTime: sourceDate}); d1 != d2 {
		t.Errorf("System() layers differ: %v %v", d1, d2)
	}
}

func TestWriteCancelled(t *testing.T) {
	tree := NewTree()
	tree.AddBytes("/x", []byte("x"), 0o644)
	store := blob.Store{Dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l, err := Write(ctx, store, tree, Options{ModTime: sourceDate})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with a cancelled context = %v, %v; want context.Canceled", l, err)
	}
	if ents, _ := os.ReadDir(store.Dir); len(ents) != 0 {
		t.Errorf("a cancelled write left %v in the store", ents)
	}
}

// TestFailedWriteLeavesNoGoroutine: a layer that fails leaves none of its
// compressor's goroutines running (a library in a long-lived process
// would gather them).
func TestFailedWriteLeavesNoGoroutine(t *testing.T) {
	before := goruntime.NumGoroutine()
	for _, c := range []Compression{Gzip, Zstd} {
		for range 20 {
			// A file there when the tree is made, gone when it is read.
			f := filepath.Join(t.TempDir(), "gone")
			os.WriteFile(f, bytes.Repeat([]byte("x"), 3<<20), 0o644)
			tree := NewTree()
			if err := tree.AddFile("/first", f, 0o644); err != nil {
				t.Fatal(err)
			}
			tree.AddBytes("/a", bytes.Repeat([]byte("y"), 2<<20), 0o644)
			os.Remove(f)
			if _, err := Write(context.Background(), blob.Store{Dir: t.TempDir()}, tree, Options{ModTime: sourceDate, Compression: c, Reuse: t.TempDir()}); err == nil {
				t.Fatal("a layer of a missing file was written")
			}
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for goruntime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := goruntime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after 40 failed layers, %d before", n, before)
	}
}

func TestWriteCancelledWhileCopying(t *testing.T) {
	src := filepath.Join(t.TempDir(), "big")
	writeFile(t, src, bytes.Repeat([]byte{1, 2, 3, 4}, 1<<18), 0o644) // 1 MiB
	tree := NewTree()
	if err := tree.AddFile("/big", src, 0o644); err != nil {
		t.Fatal(err)
	}
	store := blob.Store{Dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var written int64
	opt := Options{ModTime: sourceDate, Progress: func(n int64) {
		written += n
		cancel()
	}}
	_, err := Write(ctx, store, tree, opt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write cancelled during the copy = %v, want context.Canceled", err)
	}
	if written >= 1<<20 {
		t.Errorf("the whole file (%d bytes) was copied although the context was cancelled", written)
	}
	if ents, _ := os.ReadDir(store.Dir); len(ents) != 0 {
		t.Errorf("a cancelled write left %v in the store", ents)
	}
}

func TestWriteProgress(t *testing.T) {
	dir := t.TempDir()
	tree := NewTree()
	var want int64
	for i, size := range []int{0, 1, 100000, 7} {
		p := filepath.Join(dir, string(rune('a'+i)))
		writeFile(t, p, bytes.Repeat([]byte{'x'}, size), 0o644)
		if err := tree.AddFile("/"+filepath.Base(p), p, 0o644); err != nil {
			t.Fatal(err)
		}
		want += int64(size)
	}
	var got int64
	write(t, tree, Options{ModTime: sourceDate, Progress: func(n int64) { got += n }})
	if got != want || tree.ContentSize() != want {
		t.Errorf("progress reported %d bytes, ContentSize %d; files hold %d", got, tree.ContentSize(), want)
	}
}

func TestWriteFileChanged(t *testing.T) {
	tests := []struct {
		name  string
		after []byte
	}{
		{"shrunk", []byte("0123")},
		{"grown", []byte("0123456789-and-more")},
		{"emptied", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "f")
			writeFile(t, src, []byte("0123456789"), 0o644)
			tree := NewTree()
			if err := tree.AddFile("/f", src, 0o644); err != nil {
				t.Fatal(err)
			}
			writeFile(t, src, tt.after, 0o644)
			store := blob.Store{Dir: t.TempDir()}
			l, err := Write(context.Background(), store, tree, Options{ModTime: sourceDate})
			if err == nil {
				t.Fatalf("Write of a file that changed size succeeded: %s", readTar(t, l.Path)[0].data)
			}
			for _, w := range []string{src, "changed while it was being read", "build again"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if ents, _ := os.ReadDir(store.Dir); len(ents) != 0 {
				t.Errorf("a failed write left %v in the store", ents)
			}
		})
	}
}

func TestWriteEmptyTree(t *testing.T) {
	l := write(t, NewTree(), Options{ModTime: sourceDate})
	if es := readTar(t, l.Path); len(es) != 0 {
		t.Errorf("empty tree gave entries %q", names(es))
	}
	// "/" itself is never an entry.
	tree := NewTree()
	tree.AddDir("/", 0o700, 0, 0)
	tree.AddBytes("/f", nil, 0o644)
	if got := names(readTar(t, write(t, tree, Options{ModTime: sourceDate}).Path)); !slices.Equal(got, []string{"f"}) {
		t.Errorf("entries %q, want only f", got)
	}
}

// TestCABundleLeavesOutConstrainedRoots: a PEM file cannot carry Mozilla's
// constraints, so constrained roots must not be in it.
func TestCABundleLeavesOutConstrainedRoots(t *testing.T) {
	want := map[string]bool{}
	constrained := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			constrained++
			continue
		}
		want[string(r.Certificate)] = true
	}
	rest := CABundle()
	got := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if !want[string(b.Bytes)] {
			t.Fatal("the bundle holds a certificate that is not an unconstrained root")
		}
		got++
	}
	if got != len(want) || got == 0 {
		t.Fatalf("bundle has %d certificates, want the %d unconstrained roots (%d constrained left out)", got, len(want), constrained)
	}
}

// hashFile is Fingerprint's file hasher without a cache.
func hashFile(p string) (string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", sha256.Sum256(data)), nil
}
