// spawnthreads starts child processes while goroutines keep making the
// runtime create new OS threads (LockOSThread, then exit while locked, so
// each thread dies and the next needs a new one). A child's exit then often
// falls between a thread's clone and the moment its new thread first runs:
// replay must keep that new thread stopped until the trace says it runs.
// Built with cgo, so threads come from pthread_create (clone3, which gives
// up the CPU while recording) as in any cgo program.
package main

// int rrgo_spawnthreads_cgo;
import "C"

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
)

func main() {
	rounds := 10
	threads := 0
	dir, err := os.MkdirTemp("", "spawnthreads")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	self := dir + "/not-executable"
	if err := os.WriteFile(self, []byte("#!/bin/true\n"), 0o600); err != nil {
		panic(err)
	}
	for i := 0; i < rounds; i++ {
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				// Exiting a goroutine that holds its thread ends the
				// thread, so the next round's goroutines need new ones.
				runtime.LockOSThread()
				wg.Done()
			}()
		}
		for c := 0; c < 3; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A file that is not executable: the forked child's
				// execve fails and it exits at once.
				if err := exec.Command(self).Run(); err == nil {
					fmt.Fprintln(os.Stderr, "a non-executable file ran")
					os.Exit(1)
				}
			}()
		}
		wg.Wait()
		threads += 6
	}
	fmt.Printf("rounds=%d locked goroutines=%d\n", rounds, threads)
}
