// Command nondet prints one labelled line per classic source of
// nondeterminism in a Go program:
//
//   - time.Now() (vDSO clock_gettime) and the monotonic clock,
//   - crypto/rand (getrandom),
//   - math/rand (v1 top-level functions, randomly seeded since Go 1.20) and
//     math/rand/v2 (runtime-seeded ChaCha8),
//   - map iteration order (randomized per iteration by the runtime),
//   - select between two ready channels (the runtime picks pseudo-randomly),
//   - hash/maphash with a fresh random seed,
//   - the address of a heap object (fmt %p).
//
// A replay that is not exact prints at least one different line.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	mathrand "math/rand"
	randv2 "math/rand/v2"
	"strings"
	"time"
)

type blob struct {
	data [64]byte
	next *blob
}

func main() {
	start := time.Now()
	fmt.Printf("time.Now: %s unix-ns=%d ns-part=%09d\n", start.UTC().Format(time.RFC3339), start.UnixNano(), start.Nanosecond()) // #BP time-now

	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		panic(err)
	}
	fmt.Println("crypto/rand:", hex.EncodeToString(buf[:])) // #BP crypto-rand

	fmt.Println("math/rand v1:", mathrand.Int63(), mathrand.Intn(1000)) // #BP math-rand
	fmt.Println("math/rand/v2:", randv2.Uint64(), randv2.IntN(1000))

	m := make(map[string]int, 20)
	for i := range 20 {
		m[fmt.Sprintf("k%02d", i)] = i
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k) // #BP map-iter
	}
	fmt.Println("map order:", strings.Join(keys, " "))

	a := make(chan struct{}, 20)
	b := make(chan struct{}, 20)
	for range 20 {
		a <- struct{}{}
		b <- struct{}{}
	}
	var choices strings.Builder
	for range 20 {
		select {
		case <-a:
			choices.WriteByte('a') // #BP select-a
		case <-b:
			choices.WriteByte('b')
		}
	}
	fmt.Println("select choices:", choices.String())

	seed := maphash.MakeSeed()
	fmt.Printf("maphash: %016x\n", maphash.String(seed, "rrgo")) // #BP maphash

	obj := &blob{}
	obj.next = &blob{}
	fmt.Printf("heap object: %p\n", obj) // #BP heap-addr

	fmt.Println("monotonic elapsed ns:", time.Since(start).Nanoseconds())
}
