// Command killself sends itself a signal with kill(2) and crashes on it:
// SIGSEGV by default (or the signal named by its argument: SIGBUS, SIGFPE),
// which Go's runtime treats as fatal when it did not come from a fault, so
// it prints "SIGSEGV: segmentation violation", the pc the signal arrived
// at and the goroutine's traceback, and exits with status 2.
//
// Nondeterminism exercised: none in the program. What it checks is that
// the signal's handler sees the program's own pc: kill goes through Go's
// Syscall6, whose entry rrgo patches to run in rrgo's page, and the
// signal is delivered when that syscall returns. A handler started there
// would see a pc in rrgo's page, and the traceback would say
// "unknown pc" (the runtime's own TestSegv failed so under rrgo).
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	sig := syscall.SIGSEGV
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "SIGBUS":
			sig = syscall.SIGBUS
		case "SIGFPE":
			sig = syscall.SIGFPE
		}
	}
	fmt.Println("sending", sig)
	crash(sig)
}

//go:noinline
func crash(sig syscall.Signal) {
	syscall.Kill(os.Getpid(), sig)
	select {} // not reached: the signal is fatal
}
