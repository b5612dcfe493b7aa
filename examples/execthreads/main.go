// execthreads replaces itself with syscall.Exec while other threads run:
// goroutines spin reading the clock (as Go's syscall TestExecHelper does)
// and others sleep in the kernel. The kernel kills every other thread
// during the exec and waits until they are gone before the new image runs.
//
// With -from other the exec is made by a thread that is not the thread-group
// leader (the main goroutine stays locked to the leader thread), which
// changes the exec'ing thread's id to the process id; -leader-spins keeps
// the leader reading the clock meanwhile, so the exec kills it in its own
// code rather than in a wait.
//
// The new image (argument "child") prints its arguments and exits 0.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

func init() {
	// The main goroutine keeps the leader thread: -from other then execs
	// from another thread.
	runtime.LockOSThread()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		fmt.Println("child running, args:", os.Args[2:])
		return
	}
	from := flag.String("from", "main", "which thread execs: main (the leader) or other")
	leaderSpins := flag.Bool("leader-spins", false, "with -from other: the leader reads the clock in a loop while the other thread execs, instead of waiting for it")
	flag.Parse()

	stop := time.Now().Add(2 * time.Second)
	spinners := 8
	if *leaderSpins {
		// The leader alone spins.
		spinners = 0
	}
	spins := make([]int, spinners)
	for i := range spins {
		go func(i int) {
			for time.Now().Before(stop) {
				spins[i]++
			}
		}(i)
	}
	for i := 0; i < 4; i++ {
		go func() { time.Sleep(time.Hour) }()
	}
	time.Sleep(20 * time.Millisecond)

	self, err := os.Executable()
	if err != nil {
		fmt.Println("executable:", err)
		os.Exit(1)
	}
	argv := []string{self, "child", "from-" + *from}
	fmt.Println("exec from", *from) // #BP exec
	if *from == "main" {
		err = syscall.Exec(self, argv, os.Environ())
	} else {
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			errc <- syscall.Exec(self, argv, os.Environ())
		}()
		if *leaderSpins {
			// Killed by the exec while running its own code: no blocking
			// syscall to be found in.
			for len(errc) == 0 {
				time.Now()
			}
		}
		err = <-errc
	}
	fmt.Println("exec failed:", err)
	os.Exit(1)
}
