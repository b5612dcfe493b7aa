// Command eintrsleep sleeps on the main thread with raw nanosleep calls
// while signals arrive from outside: a signal sent to the process goes to
// its main thread when that thread does not block it, so a sleep is
// interrupted (the kernel's ERESTART_RESTARTBLOCK, which a handler turns
// into EINTR) and the program sleeps again.
//
// It prints "ready pid=N" on stderr, counts SIGUSR1s (signal.Notify'd)
// until SIGTERM arrives (at most -ms milliseconds, then it exits 1), and
// prints how many sleeps it made and how many ended early with EINTR.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

func init() {
	// The main goroutine stays on the main thread: the one process-directed
	// signals go to first.
	runtime.LockOSThread()
}

var ms = flag.Int("ms", 20000, "give up after this many milliseconds")

func main() {
	flag.Parse()
	var stop atomic.Bool
	var usr1 atomic.Int64
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGUSR1)
	go func() {
		for s := range sigs {
			if s == syscall.SIGTERM {
				stop.Store(true)
			} else {
				usr1.Add(1)
			}
		}
	}()
	fmt.Fprintf(os.Stderr, "ready pid=%d\n", os.Getpid())
	deadline := time.Now().Add(time.Duration(*ms) * time.Millisecond)
	sleeps, eintr := 0, 0
	for !stop.Load() && time.Now().Before(deadline) {
		ts := syscall.Timespec{Nsec: 2_000_000}
		sleeps++
		if err := syscall.Nanosleep(&ts, nil); err == syscall.EINTR {
			eintr++
		}
	}
	fmt.Printf("sleeps=%d eintr=%d usr1>0=%v\n", sleeps, eintr, usr1.Load() > 0)
	if !stop.Load() {
		os.Exit(1)
	}
}
