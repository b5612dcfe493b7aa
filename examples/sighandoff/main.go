// Command sighandoff receives signals the two ways whose handling passes
// through another goroutine first, sending them to itself:
//
//   - signal.NotifyContext: its own goroutine receives SIGINT and cancels
//     the context; main, woken from ctx.Done(), then write-locks a RWMutex
//     a reader holds for 200 ms more;
//   - a handler busy with one signal when the next comes: SIGHUP's handling
//     sleeps 200 ms, SIGUSR1 comes 100 ms into it and waits in the
//     channel's buffer until the handler receives again (no wait then).
//
// It prints what it measured:
//
//	ctx-lock waited 0.200s
//	handled SIGHUP in 0.200s
//	handled SIGUSR1 in 0.100s
//
// Nondeterminism exercised: signals, channels, timers, sync.RWMutex.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

var mu sync.RWMutex

func reader(holding chan<- struct{}, signalled <-chan struct{}) {
	mu.RLock() // #BP reader-rlock
	close(holding)
	<-signalled
	time.Sleep(200 * time.Millisecond)
	mu.RUnlock() // #BP reader-runlock
}

func handle(sigs <-chan os.Signal, done chan<- string) {
	for {
		sig := <-sigs // #BP handler-recv
		t0 := time.Now()
		switch sig {
		case syscall.SIGHUP:
			time.Sleep(200 * time.Millisecond) // #BP hup-sleep
		case syscall.SIGUSR1:
			time.Sleep(100 * time.Millisecond) // #BP usr1-sleep
		}
		done <- fmt.Sprintf("handled %v in %.3fs", sig, time.Since(t0).Seconds())
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT)
	holding, signalled := make(chan struct{}), make(chan struct{})
	go reader(holding, signalled)
	<-holding
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	<-ctx.Done() // #BP ctx-done
	close(signalled)
	t0 := time.Now()
	mu.Lock() // #BP ctx-lock
	fmt.Printf("ctx-lock waited %.3fs\n", time.Since(t0).Seconds())
	mu.Unlock()
	stop()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	done := make(chan string)
	go handle(sigs, done)
	time.Sleep(20 * time.Millisecond) // the handler waits at its receive
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(100 * time.Millisecond)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	fmt.Println(<-done)
	fmt.Println(<-done)
}
