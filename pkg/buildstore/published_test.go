package buildstore

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPublished: keys added are remembered across values (processes), a
// missing or damaged ledger knows nothing, and no folder keeps nothing.
func TestPublished(t *testing.T) {
	dir := t.TempDir()
	p := Published{Dir: dir}
	if p.Has("referrers a") {
		t.Fatal("an empty ledger has a key")
	}
	for _, k := range []string{"referrers a", "fingerprint b", "referrers a"} {
		if err := p.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	again := Published{Dir: dir}
	if !again.Has("referrers a") || !again.Has("fingerprint b") || again.Has("referrers") {
		t.Errorf("keys after adding: %q", again.keys())
	}
	if n := len(again.keys()); n != 2 {
		t.Errorf("%d keys kept, want 2 (no duplicates)", n)
	}
	if err := p.Add("two\nlines"); err != nil || p.Has("two") {
		t.Errorf("a key with a newline: %v, kept %v", err, p.keys())
	}
	os.WriteFile(filepath.Join(dir, PublishedFile), []byte{0, 1, 2}, 0o644)
	if p.Has("referrers a") {
		t.Error("a damaged ledger still has its keys")
	}
	none := Published{}
	if err := none.Add("x"); err != nil || none.Has("x") {
		t.Errorf("a ledger without a folder: %v, has %v", err, none.Has("x"))
	}
}
