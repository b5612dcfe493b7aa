// Command deaths ends by a signal, in the ways a real program does, for
// rrgo's tests that a recording of a death replays to the same death.
//
// Modes (the first argument):
//
//   - selfhup: goroutines sit in syscalls (a pipe read, a sleep, the netpoller)
//     while main sends SIGHUP to its own process, which nothing handles: the
//     runtime dies from it (exit status 128+1).
//   - childkill: starts a child (this program in "block" mode), waits until it
//     is ready, kills it with cmd.Process.Kill() (SIGKILL from another process
//     of the recording; pidfd_send_signal on recent Go) and prints what Wait
//     returned ("signal: killed"), then exits 0. With a second argument
//     "stop" it first stops the child (SIGSTOP) and continues it (SIGCONT).
//   - block: goroutines sit in syscalls; prints "ready pid=N" on stderr and
//     waits to be killed from outside (SIGKILL, SIGTERM, SIGINT); exits 3
//     after 30 s if nothing came.
//
// Nondeterminism exercised: asynchronous signals from the program itself,
// from its parent and from outside, and deaths of whole thread groups while
// threads are blocked in the kernel.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// busy starts goroutines that block in the kernel in different ways, so a
// death finds threads inside syscalls.
func busy() {
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	_ = w
	go func() {
		buf := make([]byte, 1)
		// Blocks in read(2) on a thread of its own (a pipe from os.Pipe is
		// polled, so this parks in the netpoller instead).
		_, _ = r.Read(buf)
	}()
	go func() {
		var fds [2]int
		if err := syscall.Pipe(fds[:]); err != nil {
			panic(err)
		}
		buf := make([]byte, 1)
		// A blocking read on a raw fd: a thread sits in the kernel.
		_, _ = syscall.Read(fds[0], buf)
	}()
	go func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return
		}
		_, _ = ln.Accept()
	}()
	go func() {
		for {
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(20 * time.Millisecond)
}

func main() {
	mode := "block"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "selfhup":
		busy()
		fmt.Println("sending SIGHUP to myself")
		_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
		time.Sleep(5 * time.Second)
		fmt.Println("still alive after SIGHUP")
		os.Exit(2)
	case "childkill":
		childKill()
	case "block":
		busy()
		fmt.Fprintf(os.Stderr, "ready pid=%d\n", os.Getpid())
		time.Sleep(30 * time.Second)
		fmt.Println("nobody killed me")
		os.Exit(3)
	default:
		fmt.Fprintln(os.Stderr, "usage: deaths selfhup|childkill|block")
		os.Exit(2)
	}
}

func childKill() {
	cmd := exec.Command(os.Args[0], "block")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		panic(err)
	}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	line, _ := bufio.NewReader(stderr).ReadString('\n')
	fmt.Println("child ready:", strings.HasPrefix(line, "ready pid="))
	if len(os.Args) > 2 && os.Args[2] == "stop" {
		// Stopped and continued first: replay meets the child's group-stop.
		fmt.Println("stop:", cmd.Process.Signal(syscall.SIGSTOP))
		time.Sleep(20 * time.Millisecond)
		fmt.Println("cont:", cmd.Process.Signal(syscall.SIGCONT))
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		fmt.Println("kill:", err)
	}
	err = cmd.Wait()
	fmt.Println("child ended:", err)
}
