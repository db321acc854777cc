package jsonv

import (
	"time"
	"unsafe"
)

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
	timeType    = typeOf(time.Time{})
	listType    = typeOf([]any(nil))
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
type Boxer struct {
	slabs
	p *parser // its parser, kept between parses
	// RawNested makes ParseObject leave the members' values that are
	// objects or lists written in canonical form as Raw, unparsed.
	RawNested bool
}

// String returns s as an interface value.
func (b *Boxer) String(s string) any { return b.boxString(s) }

// Int64 returns n as an interface value.
func (b *Boxer) Int64(n int64) any { return b.boxInt64(n) }

// Float64 returns f as an interface value.
func (b *Boxer) Float64(f float64) any { return b.boxFloat64(f) }

// Time returns t as an interface value.
func (b *Boxer) Time(t time.Time) any {
	if len(b.times) == cap(b.times) {
		b.times = b.timeSlabs.next(b.keep, b.times)
	}
	b.times = append(b.times, t)
	return *(*any)(unsafe.Pointer(&eface{timeType, unsafe.Pointer(&b.times[len(b.times)-1])}))
}

// Reuse lets b box new values over the ones it boxed before: call it only
// when none of those values, nor any copy of their interfaces, is used any
// more. A Boxer that is reused keeps its slabs instead of making new ones.
func (b *Boxer) Reuse() {
	if !b.keep {
		b.keep = true
		b.reset()
		return
	}
	b.reset()
	b.freeMaps = append(b.freeMaps, b.usedMaps...)
	clear(b.usedMaps)
	b.usedMaps = b.usedMaps[:0]
	b.strSlabs.recycle()
	b.numSlabs.recycle()
	b.timeSlabs.recycle()
	b.listSlabs.recycle()
	b.headSlabs.recycle()
}

// Clear drops what the values b boxed refer to: the maps are emptied and
// the slabs of strings and lists zeroed (a parsed string shares the memory
// of the text it came from), so that a reused Boxer that waits holds no
// text in memory. The values must no longer be used, as after Reuse; b
// keeps its slabs and maps for the next Reuse.
func (b *Boxer) Clear() {
	for _, m := range b.usedMaps {
		clear(m)
	}
	clearSlabs(&b.strSlabs)
	clearSlabs(&b.listSlabs)
	clearSlabs(&b.headSlabs)
}

// clearSlabs zeroes the slabs filled since the last Reuse.
func clearSlabs[T any](p *pool[T]) {
	for _, s := range p.used {
		clear(s[:cap(s)])
	}
}

// slabs holds the current slabs of one Parse call. With keep (a Boxer that
// is reused), it also keeps, per element type, the slabs filled since the
// last Reuse and those free to fill again (the pools), and so the maps.
type slabs struct {
	strs  []string
	nums  []uint64
	times []time.Time

	lists []any
	heads [][]any // slice headers of boxed lists (keep only)

	keep               bool
	usedMaps, freeMaps []map[string]any
	strSlabs           pool[string]
	numSlabs           pool[uint64]
	timeSlabs          pool[time.Time]
	listSlabs          pool[any]
	headSlabs          pool[[]any]
}

// pool keeps, in a reused Boxer, the slabs of one element type: those filled
// since the last Reuse, and those free to fill again.
type pool[T any] struct{ used, free [][]T }

// next returns an empty slab to follow cur: without keep a new one, grown;
// with keep a free one, or a new one, noted as used.
func (p *pool[T]) next(keep bool, cur []T) []T {
	if !keep {
		return make([]T, 0, grow(cap(cur)))
	}
	var s []T
	if n := len(p.free); n > 0 {
		s, p.free = p.free[n-1][:0], p.free[:n-1]
	} else {
		s = make([]T, 0, maxSlab)
	}
	p.used = append(p.used, s)
	return s
}

// recycle makes every used slab free to fill again.
func (p *pool[T]) recycle() {
	p.free = append(p.free, p.used...)
	clear(p.used)
	p.used = p.used[:0]
}

func (b *slabs) reset() { b.strs, b.nums, b.times, b.lists, b.heads = nil, nil, nil, nil, nil }

// boxList returns a as an interface value: in a reused Boxer, its header
// lives in a slab, as the values of Time do.
func (b *slabs) boxList(a []any) any {
	if !b.keep {
		return a
	}
	if len(b.heads) == cap(b.heads) {
		b.heads = b.headSlabs.next(true, b.heads)
	}
	b.heads = append(b.heads, a)
	return *(*any)(unsafe.Pointer(&eface{listType, unsafe.Pointer(&b.heads[len(b.heads)-1])}))
}

// newMap returns an empty map for n keys: a new one, or, in a reused Boxer,
// one it made before.
func (b *slabs) newMap(n int) map[string]any {
	if !b.keep {
		return make(map[string]any, n)
	}
	var m map[string]any
	if k := len(b.freeMaps); k > 0 {
		m, b.freeMaps = b.freeMaps[k-1], b.freeMaps[:k-1]
		clear(m)
	} else {
		m = make(map[string]any, n)
	}
	b.usedMaps = append(b.usedMaps, m)
	return m
}

// newList returns a list of n elements: new, or, in a reused Boxer, cut
// from a slab (full-capacity slicing: an append to it reallocates).
func (b *slabs) newList(n int) []any {
	if !b.keep || n == 0 || n > maxSlab/4 {
		return make([]any, n) // an empty list is not nil (no allocation)
	}
	if cap(b.lists)-len(b.lists) < n {
		b.lists = b.listSlabs.next(true, b.lists)
	}
	i := len(b.lists)
	b.lists = b.lists[:i+n]
	return b.lists[i : i+n : i+n]
}

func (b *slabs) boxString(s string) any {
	if s == "" {
		return s // no allocation for the empty string
	}
	if len(b.strs) == cap(b.strs) {
		b.strs = b.strSlabs.next(b.keep, b.strs)
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
		b.nums = b.numSlabs.next(b.keep, b.nums)
	}
	b.nums = append(b.nums, bits)
	return *(*any)(unsafe.Pointer(&eface{typ, unsafe.Pointer(&b.nums[len(b.nums)-1])}))
}

func grow(n int) int {
	return min(max(2*n, minSlab), maxSlab)
}
