//go:build !linux

package golang

// watchInstall watches nothing here: the go command's end says the binary
// is ready (see install_linux.go).
func watchInstall(dir, name string) (installed <-chan struct{}, stop func()) {
	return nil, func() {}
}
