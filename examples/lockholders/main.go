// Command lockholders makes goroutines wait for locks held elsewhere, the
// way services stall: a cache whose refresh sleeps while holding the cache's
// mutex (a heap object, unlocked by a defer), and a global registry mutex
// held across a CPU-bound pass. Each holder keeps its lock until the other
// goroutine queues for it, then for 300 ms or 150 ms more. It prints what it measured itself:
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
	"sync/atomic"
	"time"
	"unsafe"
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
	for !hasWaiter(&c.mu) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // #BP refresh-sleep
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
	// main waits on started whichever goroutine gets a thread first (when
	// rehash ran at once, main found the channel closed and never waited).
	time.Sleep(10 * time.Millisecond)
	close(started) // #BP rehash-started
	sum := uint64(0)
	for !hasWaiter(&registryMu) {
		sum += checksum(10_000)
	}
	start := time.Now()
	for time.Since(start) < 150*time.Millisecond {
		sum += checksum(100_000)
	}
	registry["sum"] = sum
	registryMu.Unlock() // #BP rehash-unlock
}

// hasWaiter says whether a goroutine is queued for m: the waiter count in
// the state word (Go 1.24-1.27: the word comes first, the count from bit 3).
// The holders below wait for it, so that the other goroutine's wait happens
// however late it gets a thread (a loaded machine, a recording).
func hasWaiter(m *sync.Mutex) bool {
	return atomic.LoadInt32((*int32)(unsafe.Pointer(m)))>>3 > 0
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
	<-started // #BP main-waits-rehash
	t0 = time.Now()
	register("worker")
	fmt.Printf("register waited %.3fs (%d entries)\n", time.Since(t0).Seconds(), len(registry))
	os.Exit(0)
}
