// Command goroutines runs 50 worker goroutines fed through channels and
// coordinated with a sync.Mutex, a sync.WaitGroup, time.After, a time.Timer
// and a time.Ticker.
//
// Nondeterminism exercised: goroutine scheduling (which worker takes which job,
// the order in which workers finish), timer and ticker firing relative to the
// work, and wall-clock sleeps. The printed finish order, its digest, the
// per-worker job counts and the tick count all depend on it; the grand total
// does not (it is the same in every run).
package main

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	numWorkers = 50
	numJobs    = 1000
)

type result struct {
	worker int
	jobs   int
	sum    int
}

var (
	mu          sync.Mutex
	finishOrder []int
	grandTotal  int
)

func worker(id int, jobs <-chan int, results chan<- result, wg *sync.WaitGroup) {
	defer wg.Done()
	r := result{worker: id}
	for j := range jobs {
		r.jobs++
		r.sum += j * j
		if j%97 == id%97 {
			// Occasionally block on a timer so workers interleave.
			<-time.After(time.Duration(j%3) * time.Millisecond)
		}
	}
	mu.Lock() // #BP worker-lock
	finishOrder = append(finishOrder, id)
	grandTotal += r.sum
	mu.Unlock()
	results <- r // #BP worker-send
}

func main() {
	jobs := make(chan int, 16)
	results := make(chan result, numWorkers)
	var wg sync.WaitGroup
	for i := range numWorkers {
		wg.Add(1)
		go worker(i, jobs, results, &wg)
	}

	// A ticker counts ticks while the work is going on.
	ticker := time.NewTicker(time.Millisecond)
	tickDone := make(chan struct{})
	tickCount := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-ticker.C:
				n++ // #BP tick
			case <-tickDone:
				ticker.Stop()
				tickCount <- n
				return
			}
		}
	}()

	// A timer that may or may not fire before the workers are done.
	timer := time.NewTimer(5 * time.Millisecond)
	timerFiredAfter := -1

	go func() {
		for j := range numJobs {
			jobs <- j
		}
		close(jobs)
	}()

	allDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(allDone)
	}()

	var perWorker [numWorkers]result
	received := 0
	for received < numWorkers {
		select {
		case r := <-results:
			perWorker[r.worker] = r
			received++
		case <-timer.C:
			timerFiredAfter = received
		}
	}
	<-allDone
	timer.Stop()
	close(tickDone)
	ticks := <-tickCount

	mu.Lock()
	order := append([]int(nil), finishOrder...)
	total := grandTotal
	mu.Unlock()

	h := fnv.New64a()
	parts := make([]string, len(order))
	for i, id := range order {
		parts[i] = fmt.Sprint(id)
		fmt.Fprintf(h, "%d,", id)
	}
	busiest := make([]result, numWorkers)
	copy(busiest, perWorker[:])
	sort.SliceStable(busiest, func(a, b int) bool { return busiest[a].jobs > busiest[b].jobs })

	fmt.Println("finish order:", strings.Join(parts, " ")) // #BP print-order
	fmt.Printf("finish order digest: %016x\n", h.Sum64())
	fmt.Printf("busiest workers: #%d=%d #%d=%d #%d=%d jobs\n",
		busiest[0].worker, busiest[0].jobs, busiest[1].worker, busiest[1].jobs, busiest[2].worker, busiest[2].jobs)
	if timerFiredAfter >= 0 {
		fmt.Printf("timer fired after %d workers finished\n", timerFiredAfter)
	} else {
		fmt.Println("timer did not fire before all workers finished")
	}
	fmt.Println("ticks:", ticks)
	fmt.Printf("workers: %d jobs: %d total: %d\n", numWorkers, numJobs, total) // #BP print-total
}
