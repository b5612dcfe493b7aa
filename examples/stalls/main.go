// Command stalls makes its main goroutine wait in the ways a service stalls
// other than on a plain mutex, one after another:
//
//   - a channel receive whose sender is slow (it sleeps, then sends);
//   - a WaitGroup waiting for a stuck worker (it sleeps, then calls Done);
//   - a RWMutex write lock waiting for a reader that holds its read lock;
//   - a RWMutex read lock waiting for the writer that holds the lock.
//
// Each holder keeps what it holds until the main goroutine is queued (read
// from the RWMutex's reader count), then for a fixed time. It prints what
// it measured itself:
//
//	recv waited 0.201s (got 42)
//	wait waited 0.250s
//	write-lock waited 0.180s
//	read-lock waited 0.120s
//
// Nondeterminism exercised: channels, timers, sync.WaitGroup and
// sync.RWMutex between goroutines on different threads, the clock.
package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

func slowProducer(ch chan<- int) {
	time.Sleep(200 * time.Millisecond) // an upstream call, say
	ch <- 42                           // #BP slow-send
}

func stuckWorker(wg *sync.WaitGroup) {
	time.Sleep(250 * time.Millisecond)
	wg.Done() // #BP worker-done
}

var config struct {
	mu     sync.RWMutex
	values map[string]string
}

// readerCount is the RWMutex's count of readers, negative while a writer
// is pending or holds it (Go 1.24-1.27: the third word after the inner
// Mutex and the two semaphores).
func readerCount(rw *sync.RWMutex) int32 {
	return atomic.LoadInt32((*int32)(unsafe.Add(unsafe.Pointer(rw), 16)))
}

// reader holds the read lock until a writer is pending, then 180 ms more.
func reader(started chan<- struct{}) {
	config.mu.RLock() // #BP reader-rlock
	close(started)
	for readerCount(&config.mu) >= 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(180 * time.Millisecond)
	_ = config.values["mode"]
	config.mu.RUnlock() // #BP reader-runlock
}

// writer holds the write lock until a reader queues, then 120 ms more.
func writer(started chan<- struct{}) {
	config.mu.Lock() // #BP writer-lock
	close(started)
	for readerCount(&config.mu) == -(1 << 30) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(120 * time.Millisecond)
	config.values["mode"] = "fast"
	config.mu.Unlock() // #BP writer-unlock
}

func main() {
	config.values = map[string]string{"mode": "slow"}

	ch := make(chan int)
	go slowProducer(ch)
	t0 := time.Now()
	v := <-ch // #BP main-recv
	fmt.Printf("recv waited %.3fs (got %d)\n", time.Since(t0).Seconds(), v)

	var wg sync.WaitGroup
	wg.Add(1)
	go stuckWorker(&wg)
	t0 = time.Now()
	wg.Wait() // #BP main-wait
	fmt.Printf("wait waited %.3fs\n", time.Since(t0).Seconds())

	started := make(chan struct{})
	go reader(started)
	<-started
	t0 = time.Now()
	config.mu.Lock() // #BP main-lock
	config.values["mode"] = "safe"
	config.mu.Unlock()
	fmt.Printf("write-lock waited %.3fs\n", time.Since(t0).Seconds())

	started = make(chan struct{})
	go writer(started)
	<-started
	t0 = time.Now()
	config.mu.RLock() // #BP main-rlock
	mode := config.values["mode"]
	config.mu.RUnlock()
	fmt.Printf("read-lock waited %.3fs (mode %s)\n", time.Since(t0).Seconds(), mode)
	os.Exit(0)
}
