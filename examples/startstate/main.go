// Command startstate prints what a program inherits from the process that
// started it: ignored and blocked signals (as the kernel reports them, and as
// os/signal sees them after the runtime's start-up rt_sigaction calls, signals
// 32 and 33 included), the working directory, the environment's size, the
// umask, resource limits, its open file descriptors, and where a fresh
// anonymous mapping lands (the mmap
// area moves with RLIMIT_STACK). A replay that does not start the program in
// the recorded conditions prints a different line or diverges.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		for _, key := range []string{"SigIgn:", "SigBlk:"} {
			if v, ok := strings.CutPrefix(line, key); ok {
				fmt.Println(key, strings.TrimSpace(v))
			}
		}
	}
	var ignored []string
	for sig := 1; sig <= 64; sig++ {
		if signal.Ignored(syscall.Signal(sig)) {
			ignored = append(ignored, fmt.Sprint(sig))
		}
	}
	fmt.Println("os/signal ignored:", strings.Join(ignored, " "))

	// Open file descriptors (the one reading the directory included): a
	// tracer that leaks its own fds into the program shows here.
	fds, _ := os.ReadDir("/proc/self/fd")
	var open []string
	for _, fd := range fds {
		open = append(open, fd.Name())
	}
	fmt.Println("open fds:", strings.Join(open, " "))

	wd, err := os.Getwd()
	fmt.Println("cwd:", wd, err)
	fmt.Println("environment entries:", len(os.Environ()))
	mask := syscall.Umask(0)
	fmt.Printf("umask: %04o\n", mask)
	for _, r := range []struct {
		name string
		res  int
	}{{"stack", syscall.RLIMIT_STACK}, {"nofile", syscall.RLIMIT_NOFILE}, {"as", syscall.RLIMIT_AS}} {
		var lim syscall.Rlimit
		err := syscall.Getrlimit(r.res, &lim)
		fmt.Printf("rlimit %s: %d %d %v\n", r.name, lim.Cur, lim.Max, err)
	}
	mem, err := syscall.Mmap(-1, 0, 1<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		fmt.Println("mmap:", err)
		return
	}
	mem[0] = 1
	fmt.Printf("mmap at: %p\n", &mem[0])
}
