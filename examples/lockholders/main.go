// Command lockholders makes goroutines wait for locks held elsewhere, the
// way services stall: a cache whose refresh sleeps while holding the cache's
// mutex (a heap object, unlocked by a defer), and a global registry mutex
// held across a CPU-bound pass. It prints what it measured itself:
//
//	get waited 0.301s
//	register waited 0.152s
//
// Nondeterminism exercised: sync.Mutex contention between goroutines on
// different threads, timers, and the clock.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

type cache struct {
	mu    sync.Mutex
	items map[string]int
}

// refresh rebuilds the items; it sleeps (an I/O stand-in) holding the lock.
func (c *cache) refresh(started chan<- struct{}) {
	c.mu.Lock() // #BP refresh-lock
	defer c.mu.Unlock() // #BP refresh-unlock
	close(started)
	time.Sleep(300 * time.Millisecond)
	c.items = map[string]int{"answer": 42}
}

func (c *cache) get(k string) int {
	c.mu.Lock() // #BP get-lock
	defer c.mu.Unlock()
	return c.items[k]
}

var (
	registryMu sync.Mutex
	registry   = map[string]uint64{}
)

//go:noinline
func checksum(n int) uint64 {
	x := uint64(1)
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// rehash holds registryMu over a CPU-bound pass.
func rehash(started chan<- struct{}) {
	registryMu.Lock() // #BP rehash-lock
	close(started)
	start := time.Now()
	sum := uint64(0)
	for time.Since(start) < 150*time.Millisecond {
		sum += checksum(100_000)
	}
	registry["sum"] = sum
	registryMu.Unlock() // #BP rehash-unlock
}

func register(name string) {
	registryMu.Lock() // #BP register-lock
	registry[name] = uint64(len(name))
	registryMu.Unlock()
}

func main() {
	c := &cache{items: map[string]int{}}
	started := make(chan struct{})
	go c.refresh(started)
	<-started
	t0 := time.Now()
	v := c.get("answer")
	fmt.Printf("get waited %.3fs (answer %d)\n", time.Since(t0).Seconds(), v)

	started = make(chan struct{})
	go rehash(started)
	<-started
	t0 = time.Now()
	register("worker")
	fmt.Printf("register waited %.3fs (%d entries)\n", time.Since(t0).Seconds(), len(registry))
	os.Exit(0)
}
