package registry

import (
	"fmt"

	"github.com/kiln-build/kiln/internal/lazy"
)

// tagRE is the tag grammar of the OCI distribution spec.
var tagRE = lazy.Regexp(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// TagError says that a tag cannot name an image in a registry.
type TagError struct {
	Tag string
}

func (e *TagError) Error() string {
	return fmt.Sprintf("%q is not a valid tag: a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", e.Tag)
}

// ValidateTags checks tags against the distribution spec's grammar, so a
// bad tag is refused before anything is uploaded rather than by the
// registry after every blob is.
func ValidateTags(tags []string) error {
	for _, t := range tags {
		if !tagRE().MatchString(t) {
			return &TagError{Tag: t}
		}
	}
	return nil
}
