// Command idlespin keeps one goroutine spinning in an empty `for {}` while
// main stops the world over and over (runtime.ReadMemStats) and prints how
// much it allocated in between, then reads its own executable in 4 KiB
// pieces (`idlespin [ROUNDS [READS]]`, defaults 20 and 0). The spinner
// never ends; the program exits when main returns.
//
// Nondeterminism exercised: where the recorder's interrupts land in a loop
// with no instruction rrgo can patch (Go compiles `for {}` to a 2-byte jump
// to itself). Every stop of the world must wait for the spinner to be
// preempted (Go's SIGURG, delivered where the recorder stopped it), so each
// of those interrupts is on the program's critical path. And whether a
// thread reading a regular file keeps the CPU: a read is a syscall that may
// block, and a thread that gave the CPU up there waited for the spinner's
// turn to end after every read.
package main

import (
	"fmt"
	"io"
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
	rounds, reads := 20, 0
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			rounds = n
		}
	}
	if len(os.Args) > 2 {
		if n, err := strconv.Atoi(os.Args[2]); err == nil {
			reads = n
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
	if reads > 0 {
		fmt.Printf("reads %d, %d bytes\n", reads, readSelf(reads))
	}
}

// readSelf reads the executable in 4 KiB pieces, one pread each, and
// returns the bytes read.
func readSelf(reads int) int {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	f, err := os.Open(exe)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	got := 0
	for i := 0; i < reads; i++ {
		n, err := f.ReadAt(buf, int64(i)*4096)
		if err != nil && err != io.EOF {
			panic(err)
		}
		got += n
	}
	return got
}
