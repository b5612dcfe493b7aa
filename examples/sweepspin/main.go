// sweepspin allocates a few hundred thousand small objects, some with
// finalizers, with the collector running all along, and prints what it
// counted.
//
// Nondeterminism exercised: none beyond the runtime's own scheduling; the
// point is what the collector's goroutines do meanwhile. In Go 1.24 the
// background sweeper, once nothing is left to sweep, loops (a lock, a
// check, an unlock: no syscall) until every goroutine still sweeping a
// span has finished — here the allocating main goroutine, whose thread
// waits for the CPU while the sweeper's holds it. Natively the two run in
// parallel; a recorder that runs one thread at a time must see the spin
// and hand the CPU over (`record/spin.rs`), or the program runs 50 times
// slower.
//
// Usage: sweepspin [OBJECTS]   (default 200000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
)

type node struct {
	id   int
	data []byte
}

var finalized atomic.Int64

func main() {
	n := 200000
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			n = v
		}
	}
	var kept []*node
	total := 0
	for i := 0; i < n; i++ {
		o := &node{id: i, data: make([]byte, 256+i%1024)}
		total += len(o.data)
		if i%10 == 0 {
			runtime.SetFinalizer(o, func(*node) { finalized.Add(1) })
		}
		if i%1000 == 0 {
			kept = append(kept, o)
		}
	}
	runtime.GC()
	sum := 0
	for _, o := range kept {
		sum += o.id
	}
	runtime.KeepAlive(kept)
	fmt.Printf("allocated %d objects (%d bytes), kept %d (ids sum %d)\n", n, total, len(kept), sum)
}
