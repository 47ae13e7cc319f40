//go:build !linux

package layer

// touchedBuffers returns n empty buffers of capacity size, their memory
// touched.
func touchedBuffers(n, size int) [][]byte { return heapBuffers(n, size) }
