package gateway

import "testing"

func TestChunked(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 100, chunkMax*3 + 5} {
		var c chunked[int]
		for i := 0; i < n; i++ {
			c.add(i * 3)
		}
		if c.len() != n {
			t.Fatalf("n=%d: len %d", n, c.len())
		}
		f := c.flat()
		if len(f) != n || cap(f) != n {
			t.Fatalf("n=%d: flat has len %d cap %d", n, len(f), cap(f))
		}
		for i, v := range f {
			if v != i*3 || c.at(i) != v {
				t.Fatalf("n=%d: value %d: flat %d, at %d, want %d", n, i, v, c.at(i), i*3)
			}
		}
		for _, ch := range c.full {
			if len(ch) > chunkMax {
				t.Fatalf("n=%d: a chunk of %d values", n, len(ch))
			}
		}
	}
}
