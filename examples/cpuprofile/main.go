// cpuprofile: CPU profiling (SIGPROF every 10 ms of CPU time, delivered
// wherever the thread happens to be) over two goroutines that compute.
// Prints the results and how many bytes of profile were written.
package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
)

//go:noinline
func work(seed, n uint64) uint64 {
	x := seed
	for i := uint64(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func main() {
	n := uint64(200_000_000)
	if len(os.Args) > 1 {
		if v, err := strconv.ParseUint(os.Args[1], 10, 64); err == nil {
			n = v
		}
	}
	var prof bytes.Buffer
	if err := pprof.StartCPUProfile(&prof); err != nil {
		fmt.Println("profile:", err)
		os.Exit(1)
	}
	var wg sync.WaitGroup
	results := make([]uint64, 2)
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[g] = work(uint64(g)+1, n)
		}()
	}
	wg.Wait()
	pprof.StopCPUProfile()
	fmt.Printf("results %x %x, profile written: %v\n", results[0], results[1], prof.Len() > 0)
}
