package layer

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// crc32Combine gives the CRC-32 of the concatenation, for parts of every
// size around the ones kiln's blocks have, empty ones included.
func TestCRC32Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 5*GzipBlockSize)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	sizes := []int{0, 1, 7, 8, 255, 4096, GzipHeadSize, GzipBlockSize - 1, GzipBlockSize, GzipBlockSize + 3, 2 * GzipBlockSize}
	for _, a := range sizes {
		for _, b := range sizes {
			got := crc32Combine(crc32.ChecksumIEEE(data[:a]), crc32.ChecksumIEEE(data[a:a+b]), int64(b))
			if want := crc32.ChecksumIEEE(data[:a+b]); got != want {
				t.Fatalf("parts of %d and %d bytes: combined %08x, want %08x", a, b, got, want)
			}
		}
	}
	// Many parts, in order, as the gzip writer joins its blocks.
	crc, at := uint32(0), 0
	for at < len(data) {
		n := min(len(data)-at, 1+r.IntN(GzipBlockSize/3))
		crc = crc32Combine(crc, crc32.ChecksumIEEE(data[at:at+n]), int64(n))
		at += n
	}
	if want := crc32.ChecksumIEEE(data); crc != want {
		t.Fatalf("joined %08x, want %08x", crc, want)
	}
}
