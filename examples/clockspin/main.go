// Command clockspin has four goroutines read the clock in tight loops for
// 300 ms and sum what they read; it prints the per-goroutine sums and how
// many reads each made. Nearly all of its time is spent inside the clock
// read, so the recorder's preemptions (and Go's async-preemption signals)
// land there: it exercises rrgo's clock page under preemption.
//
// Usage: clockspin [profile]   (profile: under CPU profiling, whose SIGPROF
// comes mostly while a clock read is inside the kernel)
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "profile" {
		if err := pprof.StartCPUProfile(io.Discard); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var wg sync.WaitGroup
	sums := make([]int64, 4)
	reads := make([]int, 4)
	for g := range 4 {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			deadline := time.Now().Add(300 * time.Millisecond)
			for time.Now().Before(deadline) {
				sums[g] += time.Now().UnixNano() % 7 // #BP read-clock
				reads[g]++
			}
		}(g)
	}
	wg.Wait()
	fmt.Println("sums:", sums) // #BP print-sums
	fmt.Println("reads:", reads)
}
