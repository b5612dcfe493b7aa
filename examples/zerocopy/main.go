// Command zerocopy copies bytes to its stdout that never pass through its
// own memory when the kernel can avoid it: io.Copy from a file (Go's
// File.ReadFrom tries copy_file_range, which works when stdout is a
// regular file) and io.Copy from a TCP connection (Go splices the socket
// into a pipe, then the pipe into stdout).
//
// Nondeterminism exercised: none beyond the kernel-chosen port; what it
// tests is that `rrgo replay -a` shows bytes the program sent to stdout
// with copy_file_range, splice or sendfile.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
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
}
