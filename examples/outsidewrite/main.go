// Command outsidewrite maps a file shared, and a process outside the
// recording stores into it: the test that runs it writes into the file
// while the program waits for a line on stdin. Then two goroutines spin
// without a syscall — one storing into the mapped page — so the recorder
// takes preemption points while the page holds bytes only the outside
// process wrote. (Go's own `go` command maps its telemetry counter file
// so, and every other go command run meanwhile stores into it.)
//
// Nondeterminism exercised: shared memory changed by a process rrgo does
// not see. Replay cannot have those bytes; the program does not read them.
//
// Usage: outsidewrite FILE
package main

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// spins is how many atomic adds each goroutine makes (about 0.3 s).
const spins = 40_000_000

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: outsidewrite FILE")
		os.Exit(2)
	}
	f, err := os.OpenFile(os.Args[1], os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		panic(err)
	}
	if err := f.Truncate(4096); err != nil {
		panic(err)
	}
	page, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	mine := (*uint64)(unsafe.Pointer(&page[0]))
	fmt.Println("mapped")
	// The outside process writes now.
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		panic(err)
	}
	var other uint64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < spins; i++ {
			atomic.AddUint64(&other, 1)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < spins; i++ {
			atomic.AddUint64(mine, 1) // the program's own store: the page is written
		}
	}()
	wg.Wait()
	fmt.Println("stored", atomic.LoadUint64(mine), "counted", atomic.LoadUint64(&other))
}
