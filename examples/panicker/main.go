// Command panicker starts a few goroutines; after a short while one of them
// (not main) panics with a custom error value, which crashes the whole program:
// Go prints "panic: ..." and the goroutine traceback on stderr and exits with
// status 2.
//
// Nondeterminism exercised: timers and scheduling decide how many ticks the
// other goroutines have counted when the panic happens, and the panic message
// carries a wall-clock timestamp and the tick count, so stdout and stderr both
// differ between runs. A recorder must capture the crash (exit_group(2)) and
// the stderr writes of the traceback.
package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// invariantError is the custom error value passed to panic.
type invariantError struct {
	worker int
	ticks  int64
	at     time.Time
}

func (e *invariantError) Error() string {
	return fmt.Sprintf("worker %d: invariant violated after %d ticks at %d ns", e.worker, e.ticks, e.at.UnixNano())
}

var (
	ticks     atomic.Int64
	perTicker [3]atomic.Int64
)

func ticker(id int) {
	for {
		time.Sleep(time.Millisecond)
		perTicker[id].Add(1)
		ticks.Add(1)
	}
}

func checker(id int) {
	time.Sleep(20 * time.Millisecond)
	err := &invariantError{worker: id, ticks: ticks.Load(), at: time.Now()}
	fmt.Printf("checker %d: giving up at %d ns after %d ticks (%d/%d/%d)\n", id, err.at.UnixNano(), err.ticks,
		perTicker[0].Load(), perTicker[1].Load(), perTicker[2].Load())
	panic(err) // #BP panic
}

func main() {
	for i := range len(perTicker) {
		go ticker(i)
	}
	go checker(7)
	fmt.Println("main: waiting")
	time.Sleep(5 * time.Second) // #BP main-sleep
	fmt.Fprintln(os.Stderr, "panicker: the panic did not happen")
	os.Exit(1)
}
