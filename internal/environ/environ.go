// Package environ reads environment lists in the form os.Environ and
// exec.Cmd.Env take ("KEY=value", later entries winning).
package environ

import "strings"

// Lookup returns key's value in env, the last one set (as a command run
// with env sees it), and whether it is set at all.
func Lookup(env []string, key string) (string, bool) {
	value, found := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			value, found = v, true
		}
	}
	return value, found
}
