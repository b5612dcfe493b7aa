// gzipsha is a CPU-bound workload over real library code: four goroutines
// each compress 256 KiB buffers with compress/gzip and hash the result
// with SHA-256, round after round, with no syscall in between. It writes
// a lot of memory between preemptions (the compressor's tables, fresh
// buffers), which is what a trace must not grow with.
//
// Usage: gzipsha [ROUNDS]   (per goroutine; default 40)
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"sync"
)

const bufSize = 256 << 10

func work(id, rounds int) [sha256.Size]byte {
	src := make([]byte, bufSize)
	x := uint32(id*7919 + 1)
	for i := range src {
		x = x*1664525 + 1013904223
		// Compressible: runs of a few symbols.
		src[i] = byte('a' + (x>>28)%6)
	}
	var sum [sha256.Size]byte
	var out bytes.Buffer
	for r := 0; r < rounds; r++ {
		out.Reset()
		w := gzip.NewWriter(&out)
		w.Write(src)
		w.Close()
		h := sha256.New()
		h.Write(sum[:])
		h.Write(out.Bytes())
		copy(sum[:], h.Sum(nil))
		src[r%bufSize] ^= sum[0]
	}
	return sum
}

func main() {
	rounds := 40
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "usage: gzipsha [ROUNDS]")
			os.Exit(2)
		}
		rounds = v
	}
	var wg sync.WaitGroup
	sums := make([][sha256.Size]byte, 4)
	for g := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[g] = work(g, rounds)
		}()
	}
	wg.Wait()
	for g, s := range sums {
		fmt.Printf("worker %d: %x\n", g, s[:8])
	}
}
