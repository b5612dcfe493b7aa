// Command dapdemo is the debugger's test bed: a loop whose counter changes
// every iteration (for reverse-continue), small calls to step into and out
// of, goroutines with a channel, and, with -panic, an unrecovered panic.
//
// Nondeterminism exercised: goroutine scheduling of the workers (their
// results are summed, so the output does not depend on it).
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
)

type point struct {
	X, Y  int
	Label string
}

func square(n int) int {
	r := n * n // #BP square-body
	return r   // #BP square-return
}

func accumulate(total int, i int) int {
	s := square(i) // #BP call-square
	total += s     // #BP after-square
	return total
}

// shape's method is called through an interface: stepping in passes the
// compiler's pointer wrapper, and the float argument arrives in XMM0.
type shape interface{ area() float64 }

type tile struct{ side float64 }

func (t tile) area() float64 {
	return t.side * t.side // #BP area-body
}

func worker(id int, results chan<- int, wg *sync.WaitGroup) {
	defer wg.Done()
	// pprof labels name the goroutine in the debugger's thread list.
	pprof.Do(context.Background(), pprof.Labels("worker", strconv.Itoa(id)), func(context.Context) {
		results <- id * 10 // #BP worker-send
	})
}

func main() {
	total := 0
	for i := 0; i < 5; i++ {
		total = accumulate(total, i)            // #BP loop-body
		fmt.Printf("i=%d total=%d\n", i, total) // #BP loop-print
	}

	results := make(chan int, 4)
	var wg sync.WaitGroup
	for id := 1; id <= 3; id++ {
		wg.Add(1)
		go worker(id, results, &wg)
	}
	wg.Wait()
	close(results)
	sum := 0
	for r := range results {
		sum += r
	}
	p := point{X: total, Y: sum, Label: "end"}
	fmt.Printf("sum=%d point=%+v\n", sum, p) // #BP final-print
	var sh shape = tile{side: 1.5}
	fmt.Printf("area=%v\n", sh.area()) // #BP iface-call

	if len(os.Args) > 1 && os.Args[1] == "-panic" {
		var xs []int
		idx := total % 7
		fmt.Println(xs[idx]) // #BP panic-line
	}
}
