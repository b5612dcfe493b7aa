// Command samespin spins in loops that are at the same registers on every
// turn: an assembly loop whose whole state is in memory, and Go loops whose
// count lives on the stack while each turn calls a function with the same
// arguments, so inside that call nothing in the registers tells one turn
// from the next.
//
// Nondeterminism exercised: where asynchronous preemption signals (sysmon's
// SIGURG) and the recorder's own interrupts land in such a loop. A signal
// taken at the very place and registers of the thread's previous stop, but
// many turns later, must be replayed many turns later too: the printed
// counts differ otherwise.
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

var stop atomic.Bool

// stopValue in *stop ends spinInMemory.
const stopValue = 0x5eed

// spinInMemory adds 0x1000 to *counter until *stop == stopValue
// (spin_amd64.s). Not preemptible: it ends only when another thread sets
// *stop.
func spinInMemory(counter *uint64, stop *uint32)

// stopped is a call with the same argument on every turn of the loops below.
//
//go:noinline
func stopped(flag *atomic.Bool) bool {
	return flag.Load()
}

// spinCalling counts turns on its stack until the flag is set.
func spinCalling() uint64 {
	var n uint64
	for !stopped(&stop) {
		n++
	}
	return n
}

// spinSelecting polls a channel with a default case: the count is kept
// across runtime.selectnbrecv's call.
func spinSelecting(done <-chan struct{}) uint64 {
	var n uint64
	for {
		select {
		case <-done:
			return n
		default:
		}
		n++
	}
}

func main() {
	// The assembly loop first, with a second P for the goroutine that stops
	// it: the recorder interrupts the spinning thread at every slice.
	runtime.GOMAXPROCS(2)
	var counter uint64
	var halt uint32
	done := make(chan bool)
	go func() {
		spinInMemory(&counter, &halt)
		done <- true
	}()
	time.Sleep(400 * time.Millisecond)
	atomic.StoreUint32(&halt, stopValue)
	<-done
	fmt.Printf("memory loop: %d turns\n", atomic.LoadUint64(&counter)/0x1000)

	// One P: the main goroutine's timers run only when sysmon preempts the
	// spinner with a signal.
	runtime.GOMAXPROCS(1)
	result := make(chan uint64)
	for round := 0; round < 6; round++ {
		stop.Store(false)
		go func() { result <- spinCalling() }()
		time.Sleep(25 * time.Millisecond)
		stop.Store(true)
		a := <-result

		done := make(chan struct{})
		go func() { result <- spinSelecting(done) }()
		time.Sleep(25 * time.Millisecond)
		close(done)
		b := <-result
		fmt.Printf("round %d: calling loop %d turns, selecting loop %d turns\n", round, a, b)
	}
}
