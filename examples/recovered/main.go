// Command recovered panics and recovers in the ways a debugger user steps
// over: a panic recovered by the deferred function of the frame that steps
// (next over the panicking call), one recovered by a caller's deferred
// function (next and step out from the panicking frame), one the runtime raises
// (step in at an out-of-range index), and a deferred function that runs
// on a normal return. It prints what it recovered.
//
// Nondeterminism exercised: none beyond the runtime's; the example is for
// the debugger's step motions over the panic machinery.
package main

import (
	"fmt"
	"os"
)

//go:noinline
func explode(n int) int {
	if n > 2 {
		panic(fmt.Sprintf("too big: %d", n)) // #BP explode-panic
	}
	return n * 2
}

// guarded recovers a panic of its own callee.
//
//go:noinline
func guarded(n int) (r int) {
	defer func() {
		if v := recover(); v != nil { // #BP guarded-recover
			r = -1
		}
	}()
	r = explode(n) // #BP guarded-call
	r++            // #BP guarded-after
	return r
}

// inner panics; its caller outer recovers.
//
//go:noinline
func inner(n int) int {
	v := n + 1     // #BP inner-first
	v = explode(v) // #BP inner-call
	return v + 1   // #BP inner-after
}

//go:noinline
func outer(n int) (r int) {
	defer func() {
		if v := recover(); v != nil { // #BP outer-recover
			r = -2
		}
	}()
	r = inner(n) // #BP outer-call
	return r
}

// index panics in the runtime (index out of range) and recovers.
//
//go:noinline
func index(xs []int, n int) (v int) {
	defer func() {
		if recover() != nil { // #BP index-recover
			v = -3
		}
	}()
	return xs[n] // #BP index-panic
}

func main() {
	a := guarded(1)
	b := guarded(5) // #BP main-guarded
	c := outer(7)   // #BP main-outer
	d := index([]int{1, 2}, len(os.Args)+4)
	fmt.Println("results:", a, b, c, d) // #BP main-print
}
