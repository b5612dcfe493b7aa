// spinmarks keeps the CPU busy without a single syscall: two goroutines
// run a counting loop for seconds and call mark() every 2^22 iterations.
// Each call is counted, and the program prints how many it made, so a
// debugger breakpoint on mark can be checked against the truth: a replay
// that re-executes every preempted slice stops there exactly that often.
//
// Usage: spinmarks [LOG2_ITERATIONS]   (per goroutine; default 29)
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

// Every 2^markShift iterations a goroutine calls mark.
const markShift = 22

var calls atomic.Int64

// last holds each goroutine's counter at its latest mark.
var last [2]int

// mark is where a breakpoint goes: g is the goroutine's number, i its
// loop counter at the call.
//
//go:noinline
func mark(g, i int) int64 {
	last[g&1] = i // #BP mark
	return calls.Add(1)
}

func spin(g, n int) uint64 {
	x := uint64(g) + 1
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		if i&(1<<markShift-1) == 0 {
			mark(g, i)
		}
	}
	return x
}

func main() {
	shift := 29
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < markShift || v > 40 {
			fmt.Fprintln(os.Stderr, "usage: spinmarks [LOG2_ITERATIONS ≥ 22]")
			os.Exit(2)
		}
		shift = v
	}
	var wg sync.WaitGroup
	sums := make([]uint64, 2)
	for g := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[g] = spin(g, 1<<shift)
		}()
	}
	wg.Wait()
	fmt.Printf("marks: %d\n", calls.Load()) // #BP print-marks
	fmt.Printf("sums: %x %x\n", sums[0], sums[1])
}
