// bigcopy spends its time in large copies: Go's memmove moves big blocks
// with one `rep movsq`, so a preemption lands inside that instruction
// (rip unchanged, rcx/rsi/rdi part-way) most of the time.
package main

import (
	"fmt"
	"sync"
)

func main() {
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
				copy(b, a)
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
