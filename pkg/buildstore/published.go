package buildstore

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/pkg/atomicfile"
)

// PublishedFile, in a build folder, lists the registry writes known done
// for the build: see Published.
const PublishedFile = "published"

// Published is a build folder's ledger of registry writes known done (its
// images' referrers in a repository, a fingerprint tag), so that pushing
// the same build again does not check them again (publish.Ledger). It is
// a cache: a lost or damaged ledger costs a push those checks, and a write
// the registry lost after it was recorded is redone only by another build
// (one from another fingerprint, or after .kiln is removed).
type Published struct {
	Dir string // the build folder; "" keeps nothing
}

// Has reports whether key was added.
func (p Published) Has(key string) bool {
	return p.Dir != "" && slices.Contains(p.keys(), key)
}

// Add records key.
func (p Published) Add(key string) error {
	if p.Dir == "" || strings.ContainsAny(key, "\n") {
		return nil
	}
	keys := p.keys()
	if slices.Contains(keys, key) {
		return nil
	}
	var b bytes.Buffer
	for _, k := range append(keys, key) {
		b.WriteString(k + "\n")
	}
	return atomicfile.WriteCache(filepath.Join(p.Dir, PublishedFile), b.Bytes(), 0o644)
}

func (p Published) keys() []string {
	f, err := os.Open(filepath.Join(p.Dir, PublishedFile))
	if err != nil {
		return nil
	}
	defer f.Close()
	var keys []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k := s.Text(); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}
