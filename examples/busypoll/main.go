// Command busypoll spins in tight loops that never block and never make a
// system call, waiting for a deadline that only the runtime's timers can
// deliver.
//
// Nondeterminism exercised: timer expiry (context.WithTimeout and
// time.AfterFunc) observed by goroutines that poll without yielding, and
// asynchronous preemption (with GOMAXPROCS=1 the timer goroutine only runs
// because sysmon preempts the spinner with a signal). The printed iteration
// counts depend on how fast the CPU ran and when the timers fired. GOMAXPROCS
// is left as the environment sets it.
package main

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// spinOnDone polls ctx.Done() in a select with a default case until the
// context expires. The loop makes no system calls and never blocks.
func spinOnDone(ctx context.Context) uint64 {
	var n uint64
	done := ctx.Done()
	for {
		select {
		case <-done:
			return n // #BP ctx-done
		default:
		}
		n++
	}
}

var stop atomic.Bool

// spinOnFlag spins on an atomic flag set by a time.AfterFunc callback. The loop
// body contains no calls at all, so with one P it only ends if the runtime
// preempts it asynchronously.
func spinOnFlag() uint64 {
	var n uint64
	for !stop.Load() {
		n++
	}
	return n // #BP flag-done
}

func main() {
	fmt.Printf("GOMAXPROCS=%d\n", runtime.GOMAXPROCS(0))
	start := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	result := make(chan uint64)
	go func() { result <- spinOnDone(ctx) }()
	n1 := <-result
	fmt.Printf("select-default loop spun %d times before ctx.Done() (%v)\n", n1, ctx.Err())

	time.AfterFunc(30*time.Millisecond, func() {
		stop.Store(true) // #BP afterfunc
	})
	go func() { result <- spinOnFlag() }()
	n2 := <-result
	fmt.Printf("atomic-flag loop spun %d times before the AfterFunc fired\n", n2)

	fmt.Printf("elapsed at least 80ms: %v\n", time.Since(start) >= 80*time.Millisecond)
}
