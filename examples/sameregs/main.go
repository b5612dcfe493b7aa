// Command sameregs retries a computation that is at the same registers on
// every attempt: the count of attempts lives only in memory (a global, and
// the loop counter in main's frame across the call), so inside attempt
// nothing in the registers tells one attempt from the next.
//
// Nondeterminism exercised: none. It is the debugger's fixture for moments
// inside one run between two events (no syscall in the loop) that only
// memory tells apart: going back to the last attempt must not land on the
// first.
package main

import "fmt"

var attempts int

// attempt sums 0..limit-1 and says whether the sum is large; the same
// arguments every time give the same registers every time.
//
//go:noinline
func attempt(limit int) bool {
	sum := 0
	for i := 0; i < limit; i++ { // #BP sum-loop
		sum += i
	}
	attempts++ // #BP count
	return sum > 1<<40
}

func main() {
	for k := 0; k < 5; k++ {
		if attempt(1000) { // #BP call
			break
		}
	}
	fmt.Println("attempts", attempts) // #BP print
}
