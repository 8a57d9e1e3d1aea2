package gateway

// chunked collects values in chunks that are never regrown: a COPY of a
// million rows into raw.<source> appending to one slice would copy it
// again at each growth and fault in fresh memory each time (about a tenth
// of the ingest's CPU); chunks cost one allocation per chunk and one
// copy at the end (flat). The first chunk is small, so a short COPY stays
// cheap; chunks double up to chunkMax.
type chunked[T any] struct {
	full [][]T
	cur  []T
	n    int
}

const chunkMax = 8192

func (c *chunked[T]) add(v T) {
	if len(c.cur) == cap(c.cur) {
		size := 16
		if c.cur != nil {
			c.full = append(c.full, c.cur)
			size = min(2*cap(c.cur), chunkMax)
		}
		c.cur = make([]T, 0, size)
	}
	c.cur = append(c.cur, v)
	c.n++
}

// len is the number of values added.
func (c *chunked[T]) len() int { return c.n }

// at returns the i-th value added (0 <= i < len).
func (c *chunked[T]) at(i int) T {
	for _, ch := range c.full {
		if i < len(ch) {
			return ch[i]
		}
		i -= len(ch)
	}
	return c.cur[i]
}

// flat returns every value in order, in one slice of exactly len.
func (c *chunked[T]) flat() []T {
	out := make([]T, 0, c.n)
	for _, ch := range c.full {
		out = append(out, ch...)
	}
	return append(out, c.cur...)
}
