// Command signalburst sends itself SIGHUP twice while nothing receives
// from its channel (capacity 1): the first waits in the channel's buffer,
// the second is dropped. Then it sends SIGUSR1 while a goroutine waits to
// receive it. It prints what it received.
//
// Nondeterminism exercised: signals, the os/signal loop's goroutine, the
// clock. The signal timeline must not name a receiver for a signal that
// nobody was waiting for.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	usr := make(chan os.Signal, 1)
	signal.Notify(usr, syscall.SIGUSR1)
	pid := os.Getpid()
	syscall.Kill(pid, syscall.SIGHUP) // #BP first-hup
	time.Sleep(20 * time.Millisecond)
	syscall.Kill(pid, syscall.SIGHUP) // #BP second-hup
	time.Sleep(20 * time.Millisecond)
	got := make(chan os.Signal)
	go func() {
		got <- <-usr // #BP usr-recv
	}()
	time.Sleep(10 * time.Millisecond)
	syscall.Kill(pid, syscall.SIGUSR1)
	fmt.Println("usr:", <-got)
	fmt.Println("hup:", <-hup)
	select {
	case s := <-hup:
		fmt.Println("second hup:", s)
	default:
		fmt.Println("second hup dropped")
	}
}
