// Command zerocopy copies bytes to its stdout that never pass through its
// own memory when the kernel can avoid it: io.Copy from a file (Go's
// File.ReadFrom tries copy_file_range, which works when stdout is a
// regular file) and io.Copy from a TCP connection (Go splices the socket
// into a pipe, then the pipe into stdout).
//
// Last, it calls splice(2) itself: a connection into a pipe, the pipe
// into stdout.
//
// Nondeterminism exercised: none beyond the kernel-chosen port; what it
// tests is that `rrgo replay -a` shows bytes the program sent to stdout
// with copy_file_range, splice or sendfile, and that splicing a socket
// works as without rrgo.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

func main() {
	dir, err := os.MkdirTemp("", "zerocopy")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "lines")
	var body []byte
	for i := range 3 {
		body = append(body, fmt.Sprintf("file line %d\n", i)...)
	}
	if err := os.WriteFile(name, body, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("from a file:")
	f, err := os.Open(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n, err := io.Copy(os.Stdout, f)
	f.Close()
	fmt.Println("copied", n, err)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		for i := range 3 {
			fmt.Fprintf(c, "socket line %d\n", i)
		}
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("from a socket:")
	n, err = io.Copy(os.Stdout, c)
	c.Close()
	fmt.Println("copied", n, err)
	spliceByHand(ln)
}

// spliceByHand calls splice(2) itself, from a connection into a pipe and
// on into stdout, and prints what the kernel answered (net's own tests
// check that a TCP connection's ReadFrom is spliced).
func spliceByHand(ln net.Listener) {
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("spliced by hand\n"))
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rc, _ := c.(*net.TCPConn).SyscallConn()
	var n int64
	rc.Read(func(fd uintptr) bool {
		n, err = syscall.Splice(int(fd), nil, p[1], nil, 64, 0)
		return err != syscall.EAGAIN
	})
	fmt.Println("splice socket->pipe:", n, err)
	if n > 0 {
		m, err := syscall.Splice(p[0], nil, 1, nil, int(n), 0)
		fmt.Println("splice pipe->stdout:", m, err)
	}
}
