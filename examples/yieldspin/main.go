// yieldspin: a goroutine starts another and spin-waits until that one has
// run, as Go's runtime does in its own spin loops, in one of two ways:
//
//	yieldspin yield [ROUNDS]  yields the CPU (sched_yield) at each turn,
//	                          like the runtime's osyield loops
//	yieldspin clock [ROUNDS]  reads the clock at each turn (time.Now), like
//	                          the runtime's nanotime-timed spins
//
// Under a recorder that runs one thread at a time the new goroutine's
// thread needs the CPU the spinner holds. Prints the rounds made.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "yield" && os.Args[1] != "clock") {
		fmt.Fprintln(os.Stderr, "usage: yieldspin yield|clock [ROUNDS]")
		os.Exit(2)
	}
	rounds := 10
	if len(os.Args) > 2 {
		if n, err := strconv.Atoi(os.Args[2]); err == nil {
			rounds = n
		}
	}
	var last time.Time
	for i := 0; i < rounds; i++ {
		var done atomic.Bool
		go func() { done.Store(true) }()
		for !done.Load() {
			if os.Args[1] == "yield" {
				syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
			} else {
				last = time.Now()
			}
		}
	}
	_ = last
	fmt.Printf("rounds %d\n", rounds)
}
