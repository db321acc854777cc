package jsonv

import "unsafe"

// Boxing a string, int64 or float64 into an interface allocates a small
// object per value, which is most of the allocations of a typical JSON event.
// Parse instead packs these values into per-call slabs and builds the
// interfaces by hand, pointing into the slab, as the runtime's own convT
// functions do into fresh memory. The values are never written after boxing,
// and each slab holds values of one Parse call only, so a value that outlives
// its document keeps at most a few siblings' headers alive.

// eface is the layout of an empty interface (runtime.eface).
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

var (
	stringType  = typeOf("")
	int64Type   = typeOf(int64(0))
	float64Type = typeOf(float64(0))
)

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

const (
	minSlab = 8
	maxSlab = 256
)

// Boxer boxes strings, int64s and float64s into interfaces the way Parse
// does: packed into shared slabs, a few allocations for many values. Use one
// Boxer per group of values that live and die together (one document, one
// batch): a value keeps its whole slab in memory. The zero value is ready to
// use; a Boxer is not safe for concurrent use.
type Boxer struct{ slabs }

// String returns s as an interface value.
func (b *Boxer) String(s string) any { return b.boxString(s) }

// Int64 returns n as an interface value.
func (b *Boxer) Int64(n int64) any { return b.boxInt64(n) }

// Float64 returns f as an interface value.
func (b *Boxer) Float64(f float64) any { return b.boxFloat64(f) }

// slabs holds the current slabs of one Parse call.
type slabs struct {
	strs []string
	nums []uint64
}

func (b *slabs) reset() { b.strs, b.nums = nil, nil }

func (b *slabs) boxString(s string) any {
	if s == "" {
		return s // no allocation for the empty string
	}
	if len(b.strs) == cap(b.strs) {
		b.strs = make([]string, 0, grow(cap(b.strs)))
	}
	b.strs = append(b.strs, s)
	return *(*any)(unsafe.Pointer(&eface{stringType, unsafe.Pointer(&b.strs[len(b.strs)-1])}))
}

func (b *slabs) boxInt64(n int64) any {
	if uint64(n) < 256 {
		return n // the runtime boxes small values without allocating
	}
	return b.boxBits(int64Type, uint64(n))
}

func (b *slabs) boxFloat64(f float64) any {
	return b.boxBits(float64Type, *(*uint64)(unsafe.Pointer(&f)))
}

func (b *slabs) boxBits(typ unsafe.Pointer, bits uint64) any {
	if len(b.nums) == cap(b.nums) {
		b.nums = make([]uint64, 0, grow(cap(b.nums)))
	}
	b.nums = append(b.nums, bits)
	return *(*any)(unsafe.Pointer(&eface{typ, unsafe.Pointer(&b.nums[len(b.nums)-1])}))
}

func grow(n int) int {
	return min(max(2*n, minSlab), maxSlab)
}
