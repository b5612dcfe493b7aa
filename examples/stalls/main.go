// Command stalls makes its main goroutine wait in the ways a service stalls
// other than on a plain mutex, one after another:
//
//   - a channel receive whose sender is slow (it sleeps, then sends);
//   - a WaitGroup waiting for a stuck worker (it sleeps, then calls Done);
//   - a RWMutex write lock waiting for a reader that holds its read lock;
//   - a RWMutex read lock waiting for the writer that holds the lock;
//   - a RWMutex write lock waiting for two readers, the second to leave
//     last, while a late reader queues behind it (it waits for the readers
//     and then for main's hold: its writer held the lock only from when
//     the last reader left);
//   - a receive from time.After (a timer wakes it, not a goroutine);
//   - a mutex passed on while main waits: its holder unlocks, a goroutine
//     queued before main takes it, and only that one's unlock lets main in;
//   - a mutex inside a package of the program's own module (ledger), held
//     by another goroutine for 90 ms;
//   - a blocking read(2) from a pipe right after a short write(2) (a
//     Println): two syscalls with no event between them under Go 1.26+;
//   - ctx.Done() of a context another goroutine cancels after 70 ms.
//
// Each holder keeps what it holds until the main goroutine is queued (read
// from the RWMutex's reader count), then for a fixed time. It prints what
// it measured itself:
//
//	recv waited 0.201s (got 42)
//	wait waited 0.250s
//	write-lock waited 0.180s
//	read-lock waited 0.120s
//	readers-lock waited 0.200s
//	late-read-lock waited 0.260s
//	handed-lock waited 0.100s
//	ledger-post waited 0.090s
//	pipe-read waited 0.150s
//	ctx-done waited 0.070s
//
// Nondeterminism exercised: channels, timers, sync.WaitGroup and
// sync.RWMutex between goroutines on different threads, the clock.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"rrgo.dev/examples/stalls/ledger"
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

// shortReader and longReader read-lock config.mu, wait for a writer to
// queue, then hold on for 60 and 200 ms.
func shortReader(started chan<- struct{}) {
	config.mu.RLock() // #BP short-rlock
	close(started)
	for readerCount(&config.mu) >= 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(60 * time.Millisecond)
	config.mu.RUnlock() // #BP short-runlock
}

func longReader(started chan<- struct{}) {
	config.mu.RLock() // #BP long-rlock
	close(started)
	for readerCount(&config.mu) >= 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	config.mu.RUnlock() // #BP long-runlock
}

// lateReader read-locks config.mu 20 ms after a writer queued: it waits
// behind the writer. It sends how long it waited.
func lateReader(waited chan<- time.Duration) {
	for readerCount(&config.mu) >= 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	t0 := time.Now()
	config.mu.RLock() // #BP late-rlock
	d := time.Since(t0)
	config.mu.RUnlock()
	waited <- d
}

var handMu sync.Mutex

// mutexWaiters reads how many goroutines wait for m (its state word's
// bits from the fourth up).
func mutexWaiters(m *sync.Mutex) int32 {
	return atomic.LoadInt32((*int32)(unsafe.Pointer(m))) >> 3
}

// firstHolder locks handMu, waits for two goroutines to queue for it,
// then holds it 40 ms more; secondHolder, queued first, then holds it 60 ms.
func firstHolder(locked chan<- struct{}) {
	handMu.Lock() // #BP first-lock
	close(locked)
	for mutexWaiters(&handMu) < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(40 * time.Millisecond)
	handMu.Unlock()
}

// canceller cancels a context after 70 ms.
func canceller(cancel context.CancelFunc) {
	time.Sleep(70 * time.Millisecond)
	cancel() // #BP cancel-call
}

func secondHolder() {
	handMu.Lock() // #BP second-lock
	time.Sleep(60 * time.Millisecond)
	handMu.Unlock() // #BP second-unlock
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

	short, long := make(chan struct{}), make(chan struct{})
	go shortReader(short)
	go longReader(long)
	<-short
	<-long
	late := make(chan time.Duration)
	go lateReader(late)
	t0 = time.Now()
	config.mu.Lock() // #BP main-lock-readers
	fmt.Printf("readers-lock waited %.3fs\n", time.Since(t0).Seconds())
	time.Sleep(80 * time.Millisecond)
	config.mu.Unlock() // #BP main-unlock-readers
	fmt.Printf("late-read-lock waited %.3fs\n", (<-late).Seconds())
	<-time.After(30 * time.Millisecond) // #BP main-after

	locked := make(chan struct{})
	go firstHolder(locked)
	<-locked
	go secondHolder()
	for mutexWaiters(&handMu) < 1 {
		time.Sleep(time.Millisecond)
	}
	t0 = time.Now()
	handMu.Lock() // #BP main-handed
	fmt.Printf("handed-lock waited %.3fs\n", time.Since(t0).Seconds())
	handMu.Unlock()

	var book ledger.Book
	locked = make(chan struct{})
	go book.Hold(90*time.Millisecond, locked)
	<-locked
	t0 = time.Now()
	book.Post()
	fmt.Printf("ledger-post waited %.3fs\n", time.Since(t0).Seconds())

	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	_ = r.Fd() // blocking mode: Read is a plain read(2) the thread sits in
	go func() {
		time.Sleep(150 * time.Millisecond)
		w.Write([]byte("x")) // #BP pipe-write
	}()
	fmt.Println("reading the pipe") // #BP main-print
	t0 = time.Now()
	buf := make([]byte, 1)
	r.Read(buf) // #BP main-read
	fmt.Printf("pipe-read waited %.3fs\n", time.Since(t0).Seconds())

	ctx, cancel := context.WithCancel(context.Background())
	go canceller(cancel)
	t0 = time.Now()
	<-ctx.Done() // #BP main-done
	fmt.Printf("ctx-done waited %.3fs\n", time.Since(t0).Seconds())
	os.Exit(0)
}
