// Package resolve finds image references to build in Kubernetes YAML
// (strings "ko://IMPORTPATH" and "kiln://IMPORTPATH-or-PATH") and puts
// the published references in their place. The YAML is parsed only to
// find the references: the output is the input with each reference's text
// replaced, so comments, formatting, document separators and every other
// byte stay as they were.
package resolve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Schemes that mark a string as a program to build: ko's, and kiln's own.
const (
	SchemeKo   = "ko://"
	SchemeKiln = "kiln://"
)

// MaxFileSize bounds one YAML file.
const MaxFileSize = 64 << 20

// Ref is one reference found in a file.
type Ref struct {
	// Line and Column (1-based) are where the string starts.
	Line, Column int
	// Scheme is SchemeKo or SchemeKiln.
	Scheme string
	// Target is what follows the scheme: an import path, or (kiln://)
	// a path.
	Target string
	// start and end delimit the reference's text in the file.
	start, end int
}

// Scalar is a string in a file that is not a reference.
type Scalar struct {
	Line, Column int
	Value        string
}

// File is a YAML file with its references located.
type File struct {
	// Name is used in messages: the path, or "-" for stdin.
	Name string
	Data []byte
	Refs []Ref
	// Strings are the other string scalars (for --strict checks).
	Strings []Scalar
}

// Parse parses the multi-document YAML (or JSON) data and locates every
// string scalar that starts with a scheme, mapping keys included, as ko
// finds them: the reference is the value with surrounding white space
// trimmed. Aliases are not followed; the anchored string is replaced.
func Parse(name string, data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d MiB; split it", name, MaxFileSize>>20)
	}
	f := &File{Name: name, Data: data}
	lines := lineStarts(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: malformed YAML: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if err := f.walk(&doc, lines); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *File) walk(n *yaml.Node, lines []int) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		scheme := ""
		for _, s := range []string{SchemeKo, SchemeKiln} {
			if strings.HasPrefix(n.Value, s) {
				scheme = s
			}
		}
		if scheme == "" {
			f.Strings = append(f.Strings, Scalar{Line: n.Line, Column: n.Column, Value: n.Value})
			return nil
		}
		text := strings.TrimSpace(n.Value)
		start, err := locate(f.Data, lines, n.Line, n.Column, text)
		if err != nil {
			return fmt.Errorf("%s:%d: %s: %w", f.Name, n.Line, text, err)
		}
		target := strings.TrimPrefix(text, scheme)
		if target == "" {
			return fmt.Errorf("%s:%d: %s names no program: write %sIMPORTPATH", f.Name, n.Line, text, scheme)
		}
		f.Refs = append(f.Refs, Ref{Line: n.Line, Column: n.Column, Scheme: scheme, Target: target, start: start, end: start + len(text)})
		return nil
	}
	for _, c := range n.Content {
		if err := f.walk(c, lines); err != nil {
			return err
		}
	}
	return nil
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// locate finds text in data from the node at line:column (1-based,
// column in characters): after the node's tag, anchor, quote or block
// scalar header, the reference must stand there literally.
func locate(data []byte, lines []int, line, column int, text string) (int, error) {
	if line < 1 || line > len(lines) {
		return 0, errors.New("position out of the file")
	}
	off := lines[line-1]
	for i := 1; i < column && off < len(data); i++ {
		_, w := utf8.DecodeRune(data[off:])
		off += w
	}
	i := off
	for i < len(data) {
		if bytes.HasPrefix(data[i:], []byte(text)) {
			return i, nil
		}
		switch c := data[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '\'' || c == '|' || c == '>' || c == '-' || c == '+' || (c >= '0' && c <= '9'):
			i++
		case c == '!' || c == '&':
			for i < len(data) && data[i] != ' ' && data[i] != '\n' {
				i++
			}
		default:
			return 0, errors.New("the reference is written with escapes or spans lines; write it plainly, on one line")
		}
	}
	return 0, errors.New("reference not found where the parser put it")
}

// Replace returns the file's bytes with each reference replaced by
// with(ref); every other byte is as it was.
func (f *File) Replace(with func(Ref) string) []byte {
	refs := slices.Clone(f.Refs)
	slices.SortFunc(refs, func(a, b Ref) int { return a.start - b.start })
	var out bytes.Buffer
	last := 0
	for _, r := range refs {
		out.Write(f.Data[last:r.start])
		out.WriteString(with(r))
		last = r.end
	}
	out.Write(f.Data[last:])
	return out.Bytes()
}

// Join concatenates resolved files into one stream, with a document
// separator between files (and a newline before it where a file lacks
// its last).
func Join(w io.Writer, files [][]byte) error {
	for i, data := range files {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		if len(data) > 0 && data[len(data)-1] != '\n' && i < len(files)-1 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
	}
	return nil
}
