// filelocks asks the kernel about record locks: fcntl's F_GETLK and
// F_OFD_GETLK fill the caller's struct flock with the lock that conflicts
// (replay must hand those bytes back), and F_SETLKW waits for a lock that
// another recorded process holds (the recording must let that process run
// meanwhile).
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
	"unsafe"
)

const (
	fOFDGetlk = 36
	fOFDSetlk = 37
)

func fcntlFlock(fd uintptr, cmd int, lk *syscall.Flock_t) error {
	_, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, uintptr(cmd), uintptr(unsafe.Pointer(lk)))
	if e != 0 {
		return e
	}
	return nil
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "child" {
		child(os.Args[2])
		return
	}
	dir, err := os.MkdirTemp("", "filelocks")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := dir + "/locked"
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := f.Truncate(1 << 16); err != nil {
		panic(err)
	}

	// Open file description locks conflict within one process.
	g, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	ofd := syscall.Flock_t{Type: syscall.F_WRLCK, Start: 100, Len: 50}
	if err := fcntlFlock(f.Fd(), fOFDSetlk, &ofd); err != nil {
		panic(err)
	}
	probe := syscall.Flock_t{Type: syscall.F_WRLCK, Start: 120, Len: 1}
	if err := fcntlFlock(g.Fd(), fOFDGetlk, &probe); err != nil {
		panic(err)
	}
	fmt.Printf("ofd conflict: type=%d start=%d len=%d pid=%d\n", probe.Type, probe.Start, probe.Len, probe.Pid)
	ofd.Type = syscall.F_UNLCK
	if err := fcntlFlock(f.Fd(), fOFDSetlk, &ofd); err != nil {
		panic(err)
	}

	// A process lock the child asks about, then waits for.
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Start: 1000, Len: 10}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		panic(err)
	}
	cmd := exec.Command(os.Args[0], "child", path)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	time.Sleep(200 * time.Millisecond)
	lk.Type = syscall.F_UNLCK
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		panic(err)
	}
	if err := cmd.Wait(); err != nil {
		fmt.Println("child:", err)
		os.Exit(1)
	}
}

func child(path string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	probe := syscall.Flock_t{Type: syscall.F_WRLCK, Start: 1005, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &probe); err != nil {
		panic(err)
	}
	fmt.Printf("child sees: type=%d start=%d len=%d held by parent=%v\n",
		probe.Type, probe.Start, probe.Len, int(probe.Pid) == os.Getppid())
	// Waits until the parent unlocks.
	wait := syscall.Flock_t{Type: syscall.F_WRLCK, Start: 1000, Len: 10}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &wait); err != nil {
		panic(err)
	}
	fmt.Println("child got the lock")
}
