package golang

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/pkg/layer"
)

// The go command does not leave a program as the linker wrote it: it
// hashes it whole and writes the hash into its build ID (cmd/go's
// updateBuildID, with cmd/internal/buildid's FindAndHash) before it moves
// it into place. stamp tells what it will write, so that the layer's
// stream can be predicted and hashed meanwhile (layer.Predict),
// while one core is idle; Write uses the prediction only for a stream
// that turns out, byte for byte, as predicted.
//
// The linker writes a placeholder build ID,
// linkAction/mainAction/mainContent/linkAction, into the ELF note
// .note.go.buildid. The go command replaces the last part, at every
// place the placeholder occurs in the file (left to right, none
// overlapping), with the start of the sha256 of the file in which those
// places and the GNU build ID's bytes (which follow from the placeholder)
// read as zeros.

// errNotStampable says a program is not one whose stamping kiln knows.
var errNotStampable = errors.New("not a linked Go program with a placeholder build ID")

// stamp returns what the go command will write into program, as the
// linker wrote it.
func stamp(program []byte) ([]layer.Patch, error) {
	f, err := elf.NewFile(bytes.NewReader(program))
	if err != nil {
		return nil, errNotStampable
	}
	id, err := placeholderID(f, program)
	if err != nil {
		return nil, err
	}
	// The ranges that read as zeros, in order: the GNU build ID, and the
	// places of the placeholder outside it.
	type hole struct{ at, end int }
	var holes []hole
	gnu := hole{}
	if s := f.Section(".note.gnu.build-id"); s != nil && s.Type != elf.SHT_NOBITS {
		if s.Size < 16 || s.Offset+s.Size > uint64(len(program)) {
			return nil, errNotStampable
		}
		gnu = hole{int(s.Offset + 16), int(s.Offset + s.Size)}
		holes = append(holes, gnu)
	}
	var places []int
	for at := 0; ; {
		i := bytes.Index(program[at:], id)
		if i < 0 {
			break
		}
		p := hole{at + i, at + i + len(id)}
		if p.at < gnu.end && p.end > gnu.at {
			// Not a place in the file the go command reads (the GNU
			// build ID reads as zeros, which no ID holds).
			at += i + 1
			continue
		}
		places = append(places, p.at)
		holes = append(holes, p)
		at = p.end
	}
	if len(places) == 0 {
		return nil, errNotStampable
	}
	slices.SortFunc(holes, func(a, b hole) int { return a.at - b.at })
	h := sha256.New()
	zeros := make([]byte, max(len(id), gnu.end-gnu.at))
	at := 0
	for _, z := range holes {
		h.Write(program[at:z.at])
		h.Write(zeros[:z.end-z.at])
		at = z.end
	}
	h.Write(program[at:])
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	newID := string(id[:bytes.LastIndexByte(id, '/')+1]) + base64.RawURLEncoding.EncodeToString(sum[:15])
	if len(newID) != len(id) {
		return nil, errNotStampable
	}
	patches := make([]layer.Patch, len(places))
	for i, at := range places {
		patches[i] = layer.Patch{At: at, Bytes: []byte(newID)}
	}
	return patches, nil
}

// placeholderID reads the placeholder build ID from the Go note the
// linker wrote into f, whose bytes are program. A placeholder's last part
// is its first (cmd/go's useCache); anything else is not one.
func placeholderID(f *elf.File, program []byte) ([]byte, error) {
	s := f.Section(".note.go.buildid")
	if s == nil || s.Type == elf.SHT_NOBITS || s.Offset+s.Size > uint64(len(program)) {
		return nil, errNotStampable
	}
	note := program[s.Offset : s.Offset+s.Size]
	if len(note) < 16 {
		return nil, errNotStampable
	}
	order := f.ByteOrder
	nameSize, descSize := uint64(order.Uint32(note)), uint64(order.Uint32(note[4:]))
	desc := 12 + (nameSize+3)&^3
	if nameSize != 4 || string(note[12:15]) != "Go\x00" || desc+descSize > uint64(len(note)) {
		return nil, errNotStampable
	}
	// A copy: the go command rewrites the note in place.
	id := bytes.Clone(note[desc : desc+descSize])
	parts := strings.Split(string(id), "/")
	if len(parts) != 4 || parts[0] == "" || parts[0] != parts[3] {
		return nil, errNotStampable
	}
	return id, nil
}
