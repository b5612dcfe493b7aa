// Command idleterm waits, doing nothing, for SIGTERM from outside: once it
// has said "ready pid=N" on stderr no goroutine runs and the runtime reads
// no clock until the signal comes. It then prints how long after its start
// the signal came, by its own monotonic clock (at most -ms milliseconds,
// then it exits 1).
//
// What it exercises: a signal's time where the program read no clock for a
// long time before it (its last read is no answer to "when did it arrive").
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ms := flag.Int("ms", 60000, "give up after this many milliseconds")
	flag.Parse()
	start := time.Now()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	fmt.Fprintf(os.Stderr, "ready pid=%d\n", os.Getpid())
	select {
	case <-sigs:
		fmt.Printf("SIGTERM after %d ms\n", time.Since(start).Milliseconds())
	case <-time.After(time.Duration(*ms) * time.Millisecond):
		fmt.Println("no SIGTERM")
		os.Exit(1)
	}
}
