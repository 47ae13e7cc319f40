package python

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func tarLayer(t *testing.T, names ...string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		typ := byte(tar.TypeReg)
		if n[len(n)-1] == '/' {
			typ = tar.TypeDir
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: typ, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestFilesystemVersion: the Python of a base without PYTHON_VERSION is
// read from its file system, as Debian's python3 and distroless lay it
// out, honouring whiteouts; several Pythons without one interpreter are
// an error, none is "".
func TestFilesystemVersion(t *testing.T) {
	cases := []struct {
		name    string
		layers  [][]string
		want    string
		wantErr bool
	}{
		{"debian", [][]string{{"usr/", "usr/lib/", "usr/lib/python3/", "usr/lib/python3.11/", "usr/lib/python3.11/os.py", "usr/bin/python3.11"}}, "3.11", false},
		{"local build", [][]string{{"./usr/local/lib/python3.12/", "./usr/local/bin/python3.12"}}, "3.12", false},
		{"removed by a later layer", [][]string{{"usr/lib/python3.11/", "usr/bin/python3.11"}, {"usr/lib/.wh.python3.11", "usr/bin/.wh.python3.11", "usr/local/lib/python3.13/x.py", "usr/local/bin/python3.13"}}, "3.13", false},
		{"a leftover library beside the interpreter", [][]string{{"usr/lib/python3.9/site-packages/", "usr/lib/python3.11/", "usr/bin/python3.11"}}, "3.11", false},
		{"two interpreters", [][]string{{"usr/lib/python3.11/", "usr/bin/python3.11", "usr/local/lib/python3.12/", "usr/local/bin/python3.12"}}, "", true},
		{"no Python", [][]string{{"etc/passwd", "usr/lib/x86_64-linux-gnu/libc.so.6"}}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := empty.Image
			for _, names := range c.layers {
				var err error
				if img, err = mutate.AppendLayers(img, tarLayer(t, names...)); err != nil {
					t.Fatal(err)
				}
			}
			got, err := FilesystemVersion(img)
			if (err != nil) != c.wantErr || got != c.want {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, c.want, c.wantErr)
			}
		})
	}
}
