// pidfd starts a child with a pidfd (syscall.SysProcAttr.PidFD, which Go's
// os/exec also asks for on its own): clone writes the pidfd's number into
// the parent's memory. The files it opens first are emulated at replay, so
// the replayed kernel hands out another number; the program prints the
// number it got, which replay must show as recorded.
//
// Nondeterminism exercised: a descriptor number written by clone(CLONE_PIDFD).
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	var open []*os.File
	for i := 0; i < 5; i++ {
		f, err := os.Open(os.Args[0])
		if err != nil {
			panic(err)
		}
		open = append(open, f)
	}
	pidfd := -1
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{PidFD: &pidfd}
	if err := cmd.Run(); err != nil {
		panic(err)
	}
	fmt.Printf("pidfd %d, %d files open\n", pidfd, len(open))
}
