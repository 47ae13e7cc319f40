package python

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Shebang is what kiln writes at the top of scripts that pip made for the
// host's interpreter: the image's python3, found on PATH.
const Shebang = "#!/usr/bin/env python3"

// Tidy makes a pip --target directory deterministic and free of host
// paths: it removes bytecode (__pycache__, *.pyc) and direct_url.json
// (which records where a wheel came from on the host), points script
// shebangs at the image's python3, and rewrites each RECORD to match.
func Tidy(dir string) error {
	removed := map[string]bool{} // slash paths relative to dir
	changed := map[string]bool{}
	var records []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir() && d.Name() == "__pycache__":
			if err := markTree(p, dir, removed); err != nil {
				return err
			}
			return filepath.SkipDir
		case d.IsDir():
			return nil
		case strings.HasSuffix(d.Name(), ".pyc") || strings.HasSuffix(d.Name(), ".pyo"),
			d.Name() == "direct_url.json" && strings.HasSuffix(path.Dir(rel), ".dist-info"):
			removed[rel] = true
			return os.Remove(p)
		case d.Name() == "RECORD" && strings.HasSuffix(path.Dir(rel), ".dist-info"):
			records = append(records, p)
		case strings.HasPrefix(rel, "bin/") && d.Type().IsRegular():
			ok, err := fixShebang(p)
			if err != nil {
				return err
			}
			if ok {
				changed[rel] = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range records {
		if err := fixRecord(dir, r, removed, changed); err != nil {
			return err
		}
	}
	return nil
}

// markTree records every file under p as removed, then removes p.
func markTree(p, root string, removed map[string]bool) error {
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, q)
			removed[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	return os.RemoveAll(p)
}

// fixShebang replaces the interpreter line pip wrote for the host's Python
// (a plain "#!/path/python" or, for long paths, the "#!/bin/sh" + exec
// trick) with Shebang.
func fixShebang(p string) (bool, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return false, err
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) == 0 || !bytes.HasPrefix(lines[0], []byte("#!")) {
		return false, nil
	}
	skip := 0
	switch first := strings.TrimSpace(string(lines[0])); {
	case first == "#!/bin/sh" && len(lines) >= 3 && bytes.HasPrefix(lines[1], []byte("'''exec' ")) && strings.TrimSpace(string(lines[2])) == "' '''":
		skip = 3
	case strings.Contains(first, "python"):
		skip = 1
	default:
		return false, nil
	}
	out := append([]byte(Shebang+"\n"), bytes.Join(lines[skip:], nil)...)
	if bytes.Equal(out, data) {
		return false, nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return false, err
	}
	return true, os.WriteFile(p, out, fi.Mode().Perm())
}

// fixRecord drops the lines of removed files from a RECORD and updates the
// hash and size of changed ones. RECORD paths are relative to the install
// directory; scripts appear as ../../bin/NAME (pip's --target layout),
// which is dir/bin/NAME.
func fixRecord(dir, record string, removed, changed map[string]bool) error {
	data, err := os.ReadFile(record)
	if err != nil {
		return err
	}
	nl := "\n"
	if bytes.Contains(data, []byte("\r\n")) {
		nl = "\r\n"
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	w.UseCRLF = nl == "\r\n"
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	dirty := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		fields, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil || len(fields) == 0 {
			return fmt.Errorf("%s: unreadable line %q", record, line)
		}
		rel := recordPath(fields[0])
		switch {
		case removed[rel]:
			dirty = true
			continue
		case changed[rel] && len(fields) >= 3:
			sum, size, err := recordHash(filepath.Join(dir, filepath.FromSlash(rel)))
			if err != nil {
				return err
			}
			fields[1], fields[2] = sum, strconv.FormatInt(size, 10)
			dirty = true
		}
		if err := w.Write(fields); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	w.Flush()
	if !dirty {
		return nil
	}
	return os.WriteFile(record, out.Bytes(), 0o644)
}

// recordPath maps a RECORD path to one relative to the install directory.
func recordPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "../../bin/"); ok {
		return "bin/" + rest
	}
	return path.Clean(p)
}

// recordHash is a RECORD hash entry: sha256=<urlsafe base64, unpadded>.
func recordHash(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return "sha256=" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)), n, nil
}

// FindString returns the first regular file under dir that contains s, or
// "" if none does. kiln uses it to make sure no host path (the temporary
// install directory) ends up in an image.
func FindString(dir, s string) (string, error) {
	needle := []byte(s)
	var found string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		ok, err := fileContains(p, needle)
		if ok {
			found = p
			return filepath.SkipAll
		}
		return err
	})
	return found, err
}

func fileContains(p string, needle []byte) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 256*1024)
	var carry []byte
	for {
		n, err := f.Read(buf)
		chunk := append(carry, buf[:n]...)
		if bytes.Contains(chunk, needle) {
			return true, nil
		}
		if keep := len(needle) - 1; len(chunk) > keep {
			carry = append(carry[:0], chunk[len(chunk)-keep:]...)
		} else {
			carry = append(carry[:0], chunk...)
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}
