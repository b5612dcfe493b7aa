// handoff: a goroutine starts another and spins, without a syscall, until
// that one has run — Go hands the new goroutine to a woken thread and
// expects it to run in parallel. Under a recorder that runs one thread at
// a time, each round lasts as long as the woken thread waits for the CPU.
// Prints the number of rounds and the longest wait the program saw.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

func main() {
	rounds := 20
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			rounds = n
		}
	}
	var longest time.Duration
	for i := 0; i < rounds; i++ {
		var done atomic.Bool
		start := time.Now()
		go func() { done.Store(true) }()
		for !done.Load() {
		}
		if d := time.Since(start); d > longest {
			longest = d
		}
	}
	fmt.Printf("rounds %d, longest wait %v\n", rounds, longest.Round(time.Millisecond))
}
