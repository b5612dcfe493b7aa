// Command hello is the smallest rrgo example.
//
// Nondeterminism exercised: almost none. The only inputs are the process
// arguments (os.Args, including the path the binary was started from), which
// the program prints; everything else is a pure function of them. It is the
// baseline for "record, replay, same output" and for simple breakpoint,
// stepping and variable-inspection tests.
package main

import (
	"fmt"
	"os"
	"strings"
)

// greeting is a package-level variable for `evaluate greeting`.
var greeting = "hello"

type person struct {
	name  string
	langs []string
}

func greet(p person) string {
	msg := fmt.Sprintf("%s, %s! You speak %s.", greeting, p.name, strings.Join(p.langs, " and ")) // #BP greet
	return msg
}

func sum(xs []int) int {
	total := 0
	for _, x := range xs {
		total += x // #BP sum-loop
	}
	return total
}

func main() {
	p := person{name: "gopher", langs: []string{"Go", "assembly"}}
	fmt.Println(greet(p)) // #BP main-greet
	fmt.Println("sum(1..10) =", sum([]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}))
	fmt.Printf("args: %d\n", len(os.Args)) // #BP print-args
	for i, a := range os.Args {
		fmt.Printf("os.Args[%d] = %q\n", i, a)
	}
}
