// Command nilfaults locks mutexes from several goroutines and, in between,
// calls Lock on a mutex field of a nil struct pointer, recovering from the
// nil-pointer panic each time (a fault at the mutex's own atomic
// instruction). It prints how many faults it recovered and the counters
// the goroutines reached.
//
// Nondeterminism exercised: scheduling decides how the goroutines
// interleave around the mutexes; the faults are SIGSEGVs the kernel
// delivers at the atomic compare-and-swap inside the inlined Lock, which a
// replay must deliver at the same instruction (rrgo's goroutine index
// moves that instruction into a probe's trampoline: the fault must still
// be the program's own).
package main

import (
	"fmt"
	"sync"
	"time"
)

// guarded has its mutex at a non-zero offset: a nil *guarded's Lock
// touches address 8, not 0.
type guarded struct {
	n  int
	mu sync.Mutex
}

var shared guarded

//go:noinline
func lockNil(g *guarded) (recovered bool) {
	defer func() {
		recovered = recover() != nil
	}()
	g.mu.Lock() // #BP nil-lock
	g.n++
	g.mu.Unlock()
	return false
}

func worker(id int, wg *sync.WaitGroup, faults *int64, fm *sync.Mutex) {
	defer wg.Done()
	for i := 0; i < 200; i++ {
		shared.mu.Lock()
		shared.n++
		shared.mu.Unlock()
		if i%20 == id {
			if lockNil(nil) {
				fm.Lock()
				*faults++
				fm.Unlock()
			}
		}
		if i%50 == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

func main() {
	var wg sync.WaitGroup
	var faults int64
	var fm sync.Mutex
	for id := 0; id < 4; id++ {
		wg.Add(1)
		go worker(id, &wg, &faults, &fm)
	}
	wg.Wait()
	fmt.Printf("recovered %d nil-mutex faults; counter %d at %d\n", faults, shared.n, time.Now().UnixNano())
}
