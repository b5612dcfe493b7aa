// Command cpuworkers runs one CPU-bound worker per P (runtime.GOMAXPROCS(0)),
// all counting primes by trial division in chunks claimed from a shared atomic
// cursor, then hashing their findings with SHA-256.
//
// Nondeterminism exercised: true parallelism across OS threads and Ps, and
// preemption of goroutines that make no blocking calls. Which worker claims
// which chunk, how many chunks each worker does, and the order in which the
// workers finish all depend on thread interleaving; the total prime count does
// not. Also prints runtime.NumCPU() and GOMAXPROCS, which depend on the host.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

const (
	limit     = 1_600_000 // count primes below this
	chunkSize = 10_000
)

var (
	cursor   atomic.Int64 // next chunk start
	finished atomic.Int64 // number of workers done
)

type result struct {
	id     int
	chunks int
	primes int
	digest [sha256.Size]byte
	rank   int64 // 1 = finished first
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := 3; d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func worker(id int, out chan<- result, wg *sync.WaitGroup) {
	defer wg.Done()
	r := result{id: id}
	h := sha256.New()
	var buf [8]byte
	for {
		start := int(cursor.Add(chunkSize)) - chunkSize // #BP claim-chunk
		if start >= limit {
			break
		}
		r.chunks++
		end := min(start+chunkSize, limit)
		for n := start; n < end; n++ {
			if isPrime(n) {
				r.primes++
				binary.LittleEndian.PutUint64(buf[:], uint64(n))
				h.Write(buf[:])
			}
		}
	}
	copy(r.digest[:], h.Sum(nil))
	r.rank = finished.Add(1) // #BP worker-done
	out <- r
}

func main() {
	procs := runtime.GOMAXPROCS(0)
	fmt.Printf("NumCPU=%d GOMAXPROCS=%d\n", runtime.NumCPU(), procs)

	out := make(chan result, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go worker(i, out, &wg)
	}
	wg.Wait()
	close(out)

	results := make([]result, procs)
	order := make([]string, procs)
	total := 0
	for r := range out {
		results[r.id] = r
		order[r.rank-1] = fmt.Sprint(r.id)
		total += r.primes
	}
	for _, r := range results {
		fmt.Printf("worker %d: chunks=%d primes=%d sha256=%x rank=%d\n", r.id, r.chunks, r.primes, r.digest[:8], r.rank) // #BP print-worker
	}
	fmt.Println("completion order:", strings.Join(order, " "))
	fmt.Printf("primes below %d: %d\n", limit, total)
}
