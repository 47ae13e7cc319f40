package project

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/layer"
)

// Data is a target's data directories, as its data layer lays them out.
type Data struct {
	// Tree is the layer's content; nil when the target has none.
	Tree *layer.Tree
	// Doc lists "SRC -> DEST" for the layer's history entry.
	Doc []string
	// Kodata is the target's kodata/ directory on this machine, "" if none.
	Kodata string
}

// Data collects the data directories of the target whose source is in
// dir, with settings s: kodata/ in dir (unless turned off, as ko does) and
// those s lists, relative to the project root.
func (p *Project) Data(dir string, s config.Settings) (*Data, error) {
	d := &Data{}
	var dirs []config.DataDir
	if s.Kodata == nil || *s.Kodata {
		kodata := filepath.Join(dir, "kodata")
		if fi, err := os.Stat(kodata); err == nil && fi.IsDir() {
			if err := p.confined(kodata, "kodata"); err != nil {
				return nil, err
			}
			dirs = append(dirs, config.DataDir{Src: kodata, Dest: config.DataPath})
			d.Kodata = kodata
		}
	}
	for _, entry := range s.Data {
		dd, err := config.ParseData(entry)
		if err != nil {
			return nil, err
		}
		if filepath.IsAbs(dd.Src) {
			return nil, fmt.Errorf("data: %q names the absolute path %s; data directories must be inside the project (%s): give a path relative to it", entry, dd.Src, p.Root)
		}
		dd.Src = filepath.Join(p.Root, dd.Src)
		if !inside(p.Root, dd.Src) {
			return nil, fmt.Errorf("data: %q leaves the project (%s); data directories must be inside it: move or copy the directory in", entry, p.Root)
		}
		fi, err := os.Stat(dd.Src)
		if err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("data: %s is not a directory; create it or fix the path (relative paths start at %s)", dd.Src, p.Root)
		}
		if err := p.confined(dd.Src, fmt.Sprintf("data: %q", entry)); err != nil {
			return nil, err
		}
		dirs = append(dirs, dd)
	}
	if len(dirs) == 0 {
		return d, nil
	}
	d.Tree = layer.NewTree()
	for _, dd := range dirs {
		if err := d.Tree.AddHostDir(dd.Src, dd.Dest); err != nil {
			return nil, err
		}
		d.Doc = append(d.Doc, p.RelDir(dd.Src)+" -> "+dd.Dest)
	}
	return d, nil
}

// confined checks that the directory dir, once its symbolic links are
// followed, is still inside the project root, as BuildKit confines a
// build to its context; what names it in the error.
func (p *Project) confined(dir, what string) error {
	root, err := filepath.EvalSymlinks(p.Root)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if !inside(root, real) {
		return fmt.Errorf("%s is %s through a symbolic link, outside the project (%s); data directories must be inside it: copy the directory in", what, real, p.Root)
	}
	return nil
}

// inside reports whether path p is root or under it (lexically).
func inside(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
