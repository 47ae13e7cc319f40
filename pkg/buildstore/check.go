package buildstore

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LinkError says that the state directory, or an entry kiln writes in it,
// is a symbolic link. kiln writes and deletes only inside .kiln and never
// follows a link out of it: such a link (which can arrive committed in a
// cloned repository) is refused, never followed.
type LinkError struct {
	Path   string // the link
	Target string // what it points at
}

func (e *LinkError) Error() string {
	return fmt.Sprintf("%s is a symbolic link (to %s); kiln writes and deletes only inside the project's .kiln directory and does not follow links out of it: remove the link (rm %s) and build again", e.Path, e.Target, e.Path)
}

// Check makes sure that kiln can write in the state directory dir without
// following a symbolic link out of it: dir itself and every entry in it
// must not be links, except "last", which must point at a folder under
// builds/. A missing dir is fine (it will be created). Check reads only.
func Check(dir string) error {
	fi, err := os.Lstat(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return linkError(dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory; kiln keeps its builds there: remove it and build again", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if e.Name() == lastLink {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			rest, ok := strings.CutPrefix(target, buildsDir+"/")
			if ok && rest != "" && rest != "." && rest != ".." && !strings.Contains(rest, "/") {
				continue
			}
		}
		return linkError(p)
	}
	return nil
}

func linkError(p string) error {
	target, _ := os.Readlink(p)
	return &LinkError{Path: p, Target: target}
}
