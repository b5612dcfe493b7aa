// Command clocksignals reads the clock in a tight loop (no syscall between
// reads, so thousands of reads go through rrgo's clock page between two
// stops) while signals arrive, to exercise signals landing inside the page.
//
// Modes (first argument):
//
//	usr1  another goroutine sends SIGUSR1 to the process every 200 µs
//	      (signal.Notify'd), for -ms milliseconds
//	prof  runtime/pprof CPU profiling runs (SIGPROF 100 times a second)
//	pipe  as prof, while two more goroutines pass 32 KiB chunks through
//	      a pipe (reads and writes rrgo buffers in its page, copying the
//	      bytes there)
//	term  prints "ready pid=N" on stderr and spins until SIGTERM arrives
//	      from outside (signal.Notify'd, as is SIGUSR1, which a test may
//	      send first), at most -ms milliseconds (then it exits 1)
//
// With -min N the spinner makes at least N reads in any mode, even past
// -ms or after SIGTERM.
//
// Every mode prints how many clock reads the spinner made and a checksum
// of the values read, which a replay must reproduce.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	ms  = flag.Int("ms", 300, "how long to spin (milliseconds)")
	min = flag.Int("min", 0, "spin on until at least this many reads, whatever the time or a signal says")
)

// spin reads the clock until stop is set or the deadline passes, and at
// least *min times (so a test's precondition does not depend on how much
// CPU a loaded machine gives the spinner); it makes no syscall while it
// spins.
func spin(stop *atomic.Bool, deadline time.Time) (reads int, sum int64) {
	for reads < *min || !stop.Load() {
		now := time.Now()
		if reads >= *min && now.After(deadline) {
			break
		}
		reads++
		sum = sum*31 + now.UnixNano()%1000
	}
	return reads, sum
}

func main() {
	flag.Parse()
	mode := flag.Arg(0)
	var stop atomic.Bool
	deadline := time.Now().Add(time.Duration(*ms) * time.Millisecond)
	done := make(chan struct{})
	var got atomic.Int64
	piped := make(chan struct{})
	switch mode {
	case "usr1":
		sigs := make(chan os.Signal, 64)
		signal.Notify(sigs, syscall.SIGUSR1)
		go func() {
			for range sigs {
				got.Add(1)
			}
		}()
		go func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				syscall.Kill(os.Getpid(), syscall.SIGUSR1)
				time.Sleep(200 * time.Microsecond)
			}
		}()
	case "pipe":
		r, w, err := os.Pipe()
		if err != nil {
			fmt.Println("pipe:", err)
			os.Exit(2)
		}
		go func() {
			chunk := make([]byte, 32<<10)
			for i := range chunk {
				chunk[i] = byte(i * 7)
			}
			for !stop.Load() && time.Now().Before(deadline) {
				w.Write(chunk)
			}
			w.Close()
		}()
		go func() {
			buf := make([]byte, 64<<10)
			var n int64
			for {
				k, err := r.Read(buf)
				n += int64(k)
				if err != nil {
					break
				}
			}
			got.Store(n)
			close(piped)
		}()
		fallthrough
	case "prof":
		if err := pprof.StartCPUProfile(io.Discard); err != nil {
			fmt.Println("profile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	case "term":
		sigs := make(chan os.Signal, 64)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGUSR1)
		go func() {
			for s := range sigs {
				if s == syscall.SIGTERM {
					got.Add(1)
					stop.Store(true)
				}
			}
		}()
		fmt.Fprintf(os.Stderr, "ready pid=%d\n", os.Getpid())
	default:
		fmt.Fprintln(os.Stderr, "usage: clocksignals [-ms N] usr1|prof|term")
		os.Exit(2)
	}
	reads, sum := spin(&stop, deadline)
	close(done)
	if mode == "pipe" {
		<-piped
		fmt.Printf("piped=%d\n", got.Load())
	}
	fmt.Printf("reads=%d sum=%d signals>0=%v\n", reads, sum, got.Load() > 0)
	if mode == "term" && !stop.Load() {
		os.Exit(1)
	}
}
