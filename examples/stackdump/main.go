// Command stackdump parks goroutines in many different wait states, then
// prints Go's own dump of all goroutines (runtime.Stack(all)). Which
// goroutine gets which id, and in which order they reach their wait points,
// depends on scheduling — the nondeterminism this example exercises. A
// debugger's goroutine dump at the moment of the print must match it. One
// goroutine is started just before the dump and has not run yet.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

var (
	mu    sync.Mutex
	rw    sync.RWMutex
	cond  = sync.NewCond(&sync.Mutex{})
	wg    sync.WaitGroup
	never = make(chan int)
	full  = make(chan int)
)

func recvForever() { <-never } // #BP recv

func sendForever() { full <- 1 } // #BP send

func selectForever() {
	select { // #BP select
	case <-never:
	case full <- 2:
	}
}

func lockForever() {
	mu.Lock() // #BP lock
	mu.Unlock()
}

func rlockForever() {
	rw.RLock() // #BP rlock
	rw.RUnlock()
}

func condForever() {
	cond.L.Lock()
	cond.Wait() // #BP cond
	cond.L.Unlock()
}

func waitForever() {
	wg.Wait() // #BP wait
}

func sleepLong() {
	time.Sleep(time.Hour) // #BP sleep
}

func neverRan() { <-never } // #BP neverran

func main() {
	mu.Lock()
	rw.Lock()
	wg.Add(1)
	workers := []func(){recvForever, sendForever, selectForever, lockForever, rlockForever, condForever, waitForever, sleepLong}
	for i := 0; i < 2; i++ {
		for _, w := range workers {
			go w()
		}
	}
	// Let every goroutine reach its wait point.
	deadline := time.Now().Add(30 * time.Second) // generous: a loaded machine, under ptrace
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		if parked() >= 2*len(workers) {
			break
		}
	}
	// One goroutine that has not run yet: with one P, which main keeps
	// until the dump is written, it waits in the run queue with its
	// function's entry as its saved pc.
	runtime.GOMAXPROCS(1)
	go neverRan()
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	os.Stdout.Write(buf[:n]) // #BP dump
	fmt.Println("\ngoroutines:", runtime.NumGoroutine())
	os.Exit(0)
}

// parked counts goroutines that are waiting, from Go's own dump.
func parked() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	count := 0
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		if strings.HasPrefix(line, "goroutine ") && !strings.Contains(line, "[running]") {
			count++
		}
	}
	return count
}
