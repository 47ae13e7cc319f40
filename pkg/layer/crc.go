package layer

import "hash/crc32"

// The gzip trailer's CRC-32 is of the whole input, but kiln knows it
// block by block: a kept block's is kept with it, a compressed block's is
// computed by its worker. crc32Combine joins them in order, in a few
// dozen operations per block, so that no one hashes the whole input for
// it. It is the combination of zlib's crc32_combine: appending len2
// bytes to a message multiplies its CRC by x^(8·len2) modulo the
// polynomial, and the CRC of the appended bytes is added.

// crcPoly is the IEEE polynomial, reflected (crc32.IEEE).
const crcPoly = crc32.IEEE

// crcMultiply returns a·b modulo the polynomial, both reflected.
func crcMultiply(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// crcPowers[k] is x^(2^k) modulo the polynomial.
var crcPowers = func() (t [64]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = crcMultiply(p, p)
	}
	return t
}()

// crc32Combine returns the CRC-32 of a message whose first part has CRC
// crc1 and whose second part, of len2 bytes, has CRC crc2.
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	// x^(8·len2) as a product of the powers of two in 8·len2.
	x := uint32(1) << 31 // x^0
	for n, k := uint64(len2)<<3, 0; n != 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			x = crcMultiply(crcPowers[k], x)
		}
	}
	return crcMultiply(x, crc1) ^ crc2
}
