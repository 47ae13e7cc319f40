package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Limits on kiln.yaml. The YAML library checks maps for duplicate keys in
// quadratic time (100,000 labels take over a minute), so sizes are
// bounded before decoding; no real configuration comes near them.
const (
	// MaxFileSize is the largest kiln.yaml kiln reads: 1 MiB.
	MaxFileSize = 1 << 20
	// MaxEntries is the most entries one map or list may hold.
	MaxEntries = 10_000
)

// checkSize refuses more than MaxFileSize bytes.
func checkSize(name string, size int64) error {
	if size > MaxFileSize {
		return fmt.Errorf("%s is larger than 1 MiB, the most kiln reads for %s: is it the right file?", name, FileName)
	}
	return nil
}

// checkEntries walks the document in data, as YAML nodes (which costs
// linear time), and refuses any map or list with more than MaxEntries
// entries, naming its key and line. YAML syntax errors are left to the
// decoder that follows, which reports them the usual way.
func checkEntries(name string, data []byte) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return yamlError(name, err)
	}
	return walkEntries(name, &doc, "", doc.Line)
}

func walkEntries(name string, n *yaml.Node, key string, line int) error {
	entries := 0
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := walkEntries(name, c, key, c.Line); err != nil {
				return err
			}
		}
		return nil
	case yaml.MappingNode:
		entries = len(n.Content) / 2
	case yaml.SequenceNode:
		entries = len(n.Content)
	default:
		// Scalars, and aliases, which point at nodes walked where
		// they are defined.
		return nil
	}
	if entries > MaxEntries {
		what := key
		if what == "" {
			what = "the top level"
		}
		return fmt.Errorf("%s:%d: %s has %d entries, more than the %d kiln takes in one map or list", name, line, what, entries, MaxEntries)
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if err := walkEntries(name, n.Content[i+1], join(key, k.Value), k.Line); err != nil {
				return err
			}
		}
		return nil
	}
	for i, c := range n.Content {
		if err := walkEntries(name, c, key+"["+strconv.Itoa(i)+"]", c.Line); err != nil {
			return err
		}
	}
	return nil
}

func join(key, sub string) string {
	if key == "" {
		return sub
	}
	return key + "." + sub
}
