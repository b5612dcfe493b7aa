// Command idlespin keeps one goroutine spinning in an empty `for {}` while
// main stops the world over and over (runtime.ReadMemStats) and prints how
// much it allocated in between. The spinner never ends; the program exits
// when main returns.
//
// Nondeterminism exercised: where the recorder's interrupts land in a loop
// with no instruction rrgo can patch (Go compiles `for {}` to a 2-byte jump
// to itself). Every stop of the world must wait for the spinner to be
// preempted (Go's SIGURG, delivered where the recorder stopped it), so each
// of those interrupts is on the program's critical path.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
)

var sink [][]byte

//go:noinline
func spin() {
	for {
	}
}

func main() {
	rounds := 20
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			rounds = n
		}
	}
	runtime.GOMAXPROCS(2)
	go spin()
	var m runtime.MemStats
	total := 0
	for i := 0; i < rounds; i++ {
		sink = append(sink, make([]byte, 16*(i+1)))
		runtime.ReadMemStats(&m) // stops the world: the spinner must be preempted
		total += len(sink[i])
	}
	fmt.Printf("rounds %d, kept %d bytes\n", rounds, total)
}
