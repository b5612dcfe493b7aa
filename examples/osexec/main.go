// Command osexec runs child processes with os/exec: a shell that prints its
// own pid and the time in nanoseconds, a shell that exits with status 3, and a
// `cat` fed through a stdin pipe.
//
// Nondeterminism exercised: fork/exec (clone, execve, wait4), the child's pid,
// the child's view of the clock, pipes between parent and child, and the exit
// statuses collected from the kernel. Every printed child pid and time differs
// between runs.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

func runShell(script string) (out string, pid, code int) {
	cmd := exec.Command("/bin/sh", "-c", script)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = os.Stderr
	err := cmd.Run() // #BP run-shell
	code = 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "exec:", err)
		os.Exit(1)
	}
	return strings.TrimSpace(buf.String()), cmd.Process.Pid, code
}

func main() {
	fmt.Println("parent pid:", os.Getpid())

	out, pid, code := runShell("echo child says pid=$$; date +%s%N")
	lines := strings.Split(out, "\n")
	fmt.Printf("child 1: pid=%d exit=%d\n", pid, code)
	for _, l := range lines {
		fmt.Printf("child 1 output: %s\n", l)
	}
	fmt.Printf("child 1 pid matches $$: %v\n", len(lines) > 0 && lines[0] == fmt.Sprintf("child says pid=%d", pid))

	out, pid, code = runShell("echo about to fail; exit 3")
	fmt.Printf("child 2: pid=%d exit=%d output=%q\n", pid, code, out)

	// Feed data into cat through a stdin pipe written by a goroutine.
	cat := exec.Command("/bin/cat")
	stdin, err := cat.StdinPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdin pipe:", err)
		os.Exit(1)
	}
	var catOut bytes.Buffer
	cat.Stdout = &catOut
	if err := cat.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start cat:", err)
		os.Exit(1)
	}
	stamp := time.Now().UnixNano()
	go func() {
		defer stdin.Close()
		for i := range 3 {
			fmt.Fprintf(stdin, "line %d stamp=%d\n", i, stamp+int64(i)) // #BP pipe-write
		}
		io.WriteString(stdin, strings.Repeat("x", 64*1024)+"\n") // more than a pipe buffer
	}()
	if err := cat.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "cat:", err)
		os.Exit(1)
	}
	catLines := strings.Split(strings.TrimSpace(catOut.String()), "\n")
	fmt.Printf("cat: pid=%d exit=%d bytes=%d lines=%d\n", cat.Process.Pid, cat.ProcessState.ExitCode(), catOut.Len(), len(catLines))
	for _, l := range catLines[:3] {
		fmt.Println("cat echoed:", l)
	}
}
