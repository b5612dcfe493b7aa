// Command watched gives watchpoints something to find: a package-level
// balance written by two goroutines (a depositor and a withdrawer taking
// turns, so the order of writes is fixed: +10 -1 +20 -2 … +50 -5), a
// struct field written through a pointer, and a stack variable of a
// function that returns.
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
	fmt.Println("balance =", balance, "limit =", acct.limit) // #BP print-balance
}
