package project

import (
	"fmt"
	"os"
	"path/filepath"

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
			dirs = append(dirs, config.DataDir{Src: kodata, Dest: config.DataPath})
			d.Kodata = kodata
		}
	}
	for _, entry := range s.Data {
		dd, err := config.ParseData(entry)
		if err != nil {
			return nil, err
		}
		if !filepath.IsAbs(dd.Src) {
			dd.Src = filepath.Join(p.Root, dd.Src)
		}
		fi, err := os.Stat(dd.Src)
		if err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("data: %s is not a directory; create it or fix the path (relative paths start at %s)", dd.Src, p.Root)
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
