// Command inlined is the debugger's test bed for optimized code: scale is
// small enough for the compiler to inline it into each of its three callers,
// twice into the last (`go build -gcflags=-m` says "inlining call to scale"
// four times), and
// main's loop calls two inlinable helpers, then prints (fmt.Println is
// inlined too). The callers are kept out of line, so the inlined copies of
// scale live in three different functions.
//
// Nondeterminism exercised: none beyond the number of arguments.
package main

import (
	"fmt"
	"os"
)

// Globals keep the inlined bodies from folding into their call lines: each
// helper's own line keeps an instruction (a store) of its own.
var calls, steps int

// note is a call in each inlined copy of scale, so the two copies in third
// cannot merge their first lines.
//
//go:noinline
func note(x int) {
	calls += x&1 + 1
}

func scale(x, k int) int {
	note(x) // #BP scale-body
	return x*k + calls
}

//go:noinline
func first(n int) int {
	return scale(n, 2) + 3 // #BP call-first
}

//go:noinline
func second(n int) int {
	v := n * 7
	return scale(v, 3) - 1 // #BP call-second
}

// third calls scale twice: two inlined copies in one function.
//
//go:noinline
func third(n int) int {
	w := scale(n+11, 5)    // #BP call-third
	return scale(w, 7) ^ w // #BP call-third-again
}

func double(n int) int {
	steps++ // #BP double-body
	return n * 2
}

func offset(n int) int {
	steps += 2 // #BP offset-body
	return n + steps
}

func main() {
	n := len(os.Args)
	total := 0
	for i := 0; i < 3; i++ { // #BP loop-head
		a := double(i + n)                  // #BP loop-double
		b := offset(a)                      // #BP loop-offset
		total += a * b                      // #BP loop-total
		fmt.Println("i", i, "total", total) // #BP loop-print
	}
	fmt.Println(first(n), second(n), third(n))  // #BP call-all
	fmt.Println("calls", calls, "steps", steps) // #BP final-print
}
