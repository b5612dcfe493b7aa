// Command racecounter has a deliberate data race: several goroutines increment
// the package-level variable counter without any synchronization.
//
// Nondeterminism exercised: the interleaving of plain (non-atomic) memory
// accesses by goroutines running in parallel on different threads. Lost
// updates make the final value smaller than the expected one by an amount
// that changes from run to run; a replay must reproduce it exactly.
package main

import (
	"fmt"
	"runtime"
	"sync"
)

const (
	workers    = 6
	increments = 100_000
)

// counter is read and written by every worker without synchronization.
var counter int

// spin does a little work between the read and the write of counter so that
// the goroutines' read-modify-write sequences overlap often.
func spin(n int) int {
	x := n
	for i := 0; i < 200; i++ {
		x = x*31 + i
	}
	return x
}

// sinks keeps the results of spin alive (one slot per worker: no extra race).
var sinks [workers]int

func increment(id int, wg *sync.WaitGroup) {
	defer wg.Done()
	local := 0
	for i := 0; i < increments; i++ {
		v := counter // #BP race-read
		local += spin(v + id)
		counter = v + 1 // #BP race-write
	}
	sinks[id] = local
}

func main() {
	var wg sync.WaitGroup
	for id := range workers {
		wg.Add(1)
		go increment(id, &wg)
	}
	wg.Wait()
	fmt.Printf("GOMAXPROCS = %d, workers = %d, expected = %d\n", runtime.GOMAXPROCS(0), workers, workers*increments)
	fmt.Println("counter =", counter) // #BP print-counter
	fmt.Println("lost updates =", workers*increments-counter)
}
