// Command watched gives watchpoints something to find: a package-level
// balance written by two goroutines (a depositor and a withdrawer taking
// turns, so the order of writes is fixed: +10 -1 +20 -2 … +50 -5), a
// struct field written through a pointer, a stack variable of a
// function that returns, one whose goroutine's stack grows (the
// runtime copies the stack elsewhere) between two writes, and a slice
// element written by copy and clear (two back-to-back stores each).
//
// Nondeterminism exercised: none beyond the scheduling of the goroutines;
// the program prints every write so a test can check which one came last.
package main

import "fmt"

// balance is written by the depositor and the withdrawer goroutines.
var balance int64

type account struct {
	name  string
	limit int64
}

var acct = &account{name: "main", limit: 100}

//go:noinline
func deposit(n int64) {
	balance += n // #BP deposit
}

//go:noinline
func withdraw(n int64) {
	balance -= n // #BP withdraw
}

//go:noinline
func scratch() int64 {
	total := int64(0) // #BP scratch-start
	for i := int64(1); i <= 3; i++ {
		total += i * i // #BP scratch-add
	}
	return total
}

// grow's level is written before and after a call deep enough to make
// the runtime copy the goroutine's stack to a bigger one: the variable
// moves, and a watchpoint on it must move too.
//
//go:noinline
func grow() int64 {
	level := int64(1)  // #BP grow-start
	level += deep(400) // #BP grow-call
	level *= 3         // #BP grow-after
	return level
}

// deep recurses with ~0.5 KiB frames: 400 levels need ~200 KiB of stack.
//
//go:noinline
func deep(n int) int64 {
	var pad [64]int64 // #BP deep-start
	pad[n%64] = int64(n)
	if n == 0 {
		return 0
	}
	return deep(n-1) + pad[n%64] - int64(n) + 1 // #BP deep-call
}

// copied's element 1 is written by plain stores, by copy (a 24-byte
// memmove: two overlapping 16-byte stores, back to back) and by clear
// (memclr: the same): 5, 6, 8, 8, 0, 0, 1.
var copied = make([]int64, 3)

//go:noinline
func copies() {
	copied[1] = 5 // #BP copies-start
	copied[1] = 6
	copy(copied, []int64{7, 8, 9})
	clear(copied)
	copied[1] = 1
}

func main() {
	depTurn, wdTurn, done := make(chan int64), make(chan int64), make(chan string)
	go func() {
		for n := range depTurn {
			deposit(n)
			done <- fmt.Sprintf("deposit %d -> %d", n, balance)
		}
	}()
	go func() {
		for n := range wdTurn {
			withdraw(n)
			done <- fmt.Sprintf("withdraw %d -> %d", n, balance)
		}
	}()
	for i := int64(1); i <= 5; i++ {
		depTurn <- i * 10
		fmt.Println(<-done)
		wdTurn <- i
		fmt.Println(<-done)
	}
	acct.limit = 200 // #BP raise-limit
	fmt.Println("scratch =", scratch())
	fmt.Println("grow =", grow())
	copies()
	fmt.Println("copied =", copied)
	fmt.Println("balance =", balance, "limit =", acct.limit) // #BP print-balance
}
