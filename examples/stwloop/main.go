// Command stwloop stops the world over and over while other goroutines need
// to run: one goroutine calls runtime.ReadMemStats in a loop (each call
// stops and restarts the world), while N workers (default 4) each count to
// a million and report on a channel. It prints the workers' sum once all
// are done (the loop's stops of the world are counted, never printed: how
// many there were depends on scheduling).
//
// Nondeterminism exercised: scheduling. Starting the world wakes the
// threads whose goroutines were stopped; if the looping thread keeps the
// only CPU until it asks for the next stop, the woken threads find the
// world stopping again every time they get it, and the workers never run
// (recorded without rrgo's hand-over, this program hangs).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
)

func main() {
	workers := 4
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			workers = n
		}
	}
	runtime.GOMAXPROCS(4)
	var stops atomic.Int64
	var stop atomic.Bool
	go func() {
		var m runtime.MemStats
		for !stop.Load() {
			runtime.ReadMemStats(&m) // #BP read-memstats
			stops.Add(1)
		}
	}()
	done := make(chan int)
	for w := 0; w < workers; w++ {
		go func(w int) {
			sum := 0
			for i := 0; i < 1_000_000; i++ {
				sum += i % (w + 2)
			}
			done <- sum
		}(w)
	}
	total := 0
	for w := 0; w < workers; w++ {
		total += <-done
	}
	stop.Store(true)
	fmt.Printf("workers %d, sum %d\n", workers, total)
	_ = stops.Load() // #BP stops
}
