// Command sigterm-delay is rrgo's demo "service": SIGTERM handling that is
// mysteriously slow.
//
// main registers signal.Notify for SIGTERM and starts two goroutines:
//
//   - main.worker runs "compaction passes" in a loop; each pass holds the
//     stateMu mutex for a long CPU-bound stretch (about 1.5 s natively with
//     the default -work) and releases it only at the end of the pass;
//   - main.handleSignals waits for SIGTERM, then needs stateMu to flush the
//     state before the program can exit, so the shutdown is delayed until the
//     worker ends its current pass.
//
// It prints "ready pid=N" on stderr once the worker holds stateMu (tests wait
// for that line, then send SIGTERM), and on shutdown prints when the signal
// arrived and how long the handling took, e.g.
// "SIGTERM received; shutdown took 1.73s", then exits 0. Without a SIGTERM
// within -timeout (10 s) it exits 1. With -self-term DURATION it sends SIGTERM
// to itself after DURATION.
//
// Nondeterminism exercised: asynchronous signal delivery (SIGTERM, from
// outside or from kill(2) on itself), the os/signal delivery goroutine,
// sync.Mutex contention and starvation-mode handoff between goroutines on
// different threads, and wall-clock time (the printed durations).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// unitIters is the size of one work unit (roughly 1 ms of CPU natively).
const unitIters = 600_000

var (
	// stateMu guards state. The worker holds it for a whole compaction pass.
	stateMu sync.Mutex
	state   struct {
		passes   int
		checksum uint64
	}
	stopping atomic.Bool
	start    = time.Now()
)

// compact burns CPU: units work units folded into the checksum. It is kept
// out of line so that backtraces show main.worker -> main.compact.
//
//go:noinline
func compact(seed uint64, units int) uint64 {
	x := seed | 1
	for u := 0; u < units; u++ {
		for i := 0; i < unitIters; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
	}
	return x
}

// worker runs compaction passes until a shutdown is requested. Each pass holds
// stateMu for its whole duration.
func worker(workUnits int, holding chan<- struct{}) {
	for {
		stateMu.Lock() // #BP worker-lock
		if stopping.Load() {
			stateMu.Unlock()
			return
		}
		if holding != nil {
			close(holding) // tell main we hold the lock: it may print "ready"
			holding = nil
		}
		state.checksum = compact(state.checksum+uint64(state.passes), workUnits) // #BP worker-compact
		state.passes++
		stateMu.Unlock() // #BP worker-unlock
		time.Sleep(20 * time.Millisecond)
	}
}

// handleSignals waits for SIGTERM, then flushes the state under stateMu.
func handleSignals(sigs <-chan os.Signal, done chan<- string) {
	sig := <-sigs // #BP handler-recv
	received := time.Now()
	fmt.Printf("%s received at +%.3fs; flushing state\n", signalName(sig), received.Sub(start).Seconds())
	stateMu.Lock() // #BP handler-lock
	stopping.Store(true)
	flushed := fmt.Sprintf("state flushed: passes=%d checksum=%016x", state.passes, state.checksum) // #BP handler-flush
	stateMu.Unlock()
	took := time.Since(received)
	done <- fmt.Sprintf("%s\nSIGTERM received; shutdown took %.2fs", flushed, took.Seconds())
}

func signalName(sig os.Signal) string {
	if sig == syscall.SIGTERM {
		return "SIGTERM"
	}
	return sig.String()
}

// selfTerm sends SIGTERM to this process after delay.
func selfTerm(delay time.Duration) {
	time.Sleep(delay)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil { // #BP self-term
		fmt.Fprintln(os.Stderr, "kill:", err)
	}
}

func main() {
	selfTermAfter := flag.Duration("self-term", 0, "send SIGTERM to itself after this delay (0: wait for an external SIGTERM)")
	timeout := flag.Duration("timeout", 10*time.Second, "exit 1 if no SIGTERM arrives within this time")
	workUnits := flag.Int("work", 1500, "CPU work units per compaction pass (1 unit is about 1 ms natively)")
	flag.Parse()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)

	done := make(chan string)
	go handleSignals(sigs, done)

	holding := make(chan struct{})
	go worker(*workUnits, holding)
	<-holding
	fmt.Fprintf(os.Stderr, "ready pid=%d\n", os.Getpid())

	if *selfTermAfter > 0 {
		go selfTerm(*selfTermAfter)
	}

	select {
	case msg := <-done:
		fmt.Println(msg)
	case <-time.After(*timeout):
		fmt.Fprintf(os.Stderr, "sigterm-delay: no SIGTERM within %v; giving up\n", *timeout)
		os.Exit(1)
	}
}
