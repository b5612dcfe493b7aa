// bigcopy spends its time in large copies made by one `rep movsq` (its
// own movsq in movsq_amd64.s: Go's memmove uses one only on some CPUs),
// so a preemption lands inside that instruction (rip unchanged,
// rcx/rsi/rdi part-way) most of the time. It copies with Go's copy too.
package main

import (
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// movsq copies words 8-byte words from src to dst with REP MOVSQ.
//
//go:noescape
func movsq(dst, src unsafe.Pointer, words uintptr)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fill" {
		fill()
		return
	}
	const size = 8 << 20
	var wg sync.WaitGroup
	sums := make([]uint64, 2)
	for w := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := make([]byte, size)
			b := make([]byte, size)
			for i := range a {
				a[i] = byte(i*7 + w)
			}
			for round := 0; round < 60; round++ {
				movsq(unsafe.Pointer(&b[0]), unsafe.Pointer(&a[0]), size/8)
				a[round] ^= b[size-1-round]
				copy(a[1:], b[:size-1])
			}
			var s uint64
			for i := 0; i < size; i += 4096 {
				s = s*31 + uint64(a[i]) + uint64(b[i])
			}
			sums[w] = s
		}()
	}
	wg.Wait()
	fmt.Println("sums", sums)
}

// fill writes 160 MB in one burst and keeps computing, while another
// goroutine spins: the preemption that follows records one run of written
// pages larger than a trace chunk (the recorder cuts it into pieces).
func fill() {
	done := make(chan uint64)
	go func() {
		var x uint64
		for i := 0; i < 400_000_000; i++ {
			x = x*6364136223846793005 + 1
		}
		done <- x
	}()
	buf := make([]byte, 160<<20)
	for i := range buf {
		buf[i] = byte(i >> 12)
	}
	var s uint64
	for round := 0; round < 8; round++ {
		for i := 0; i < len(buf); i += 64 {
			s += uint64(buf[i]) * uint64(round+1)
		}
	}
	fmt.Println("fill", s, <-done)
}
