// Command nondet prints one labelled line per classic source of
// nondeterminism in a Go program:
//
//   - time.Now() (vDSO clock_gettime) and the monotonic clock,
//   - crypto/rand (getrandom),
//   - math/rand (v1 top-level functions, randomly seeded since Go 1.20) and
//     math/rand/v2 (runtime-seeded ChaCha8),
//   - map iteration order (randomized per iteration by the runtime),
//   - select between two ready channels (the runtime picks pseudo-randomly),
//   - hash/maphash with a fresh random seed,
//   - the address of a heap object (fmt %p),
//   - the file name the program was started with, read from the initial
//     stack through AT_EXECFN without a syscall (rrgo's replay runs a copy
//     of the program from elsewhere),
//   - the signals it started with ignored (inherited from its parent).
//
// A replay that is not exact prints at least one different line.
package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	mathrand "math/rand"
	randv2 "math/rand/v2"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

type blob struct {
	data [64]byte
	next *blob
}

func main() {
	start := time.Now()
	fmt.Printf("time.Now: %s unix-ns=%d ns-part=%09d\n", start.UTC().Format(time.RFC3339), start.UnixNano(), start.Nanosecond()) // #BP time-now

	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		panic(err)
	}
	fmt.Println("crypto/rand:", hex.EncodeToString(buf[:])) // #BP crypto-rand

	fmt.Println("math/rand v1:", mathrand.Int63(), mathrand.Intn(1000)) // #BP math-rand
	fmt.Println("math/rand/v2:", randv2.Uint64(), randv2.IntN(1000))

	m := make(map[string]int, 20)
	for i := range 20 {
		m[fmt.Sprintf("k%02d", i)] = i
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k) // #BP map-iter
	}
	fmt.Println("map order:", strings.Join(keys, " "))

	a := make(chan struct{}, 20)
	b := make(chan struct{}, 20)
	for range 20 {
		a <- struct{}{}
		b <- struct{}{}
	}
	var choices strings.Builder
	for range 20 {
		select {
		case <-a:
			choices.WriteByte('a') // #BP select-a
		case <-b:
			choices.WriteByte('b')
		}
	}
	fmt.Println("select choices:", choices.String())

	seed := maphash.MakeSeed()
	fmt.Printf("maphash: %016x\n", maphash.String(seed, "rrgo")) // #BP maphash

	obj := &blob{}
	obj.next = &blob{}
	fmt.Printf("heap object: %p\n", obj) // #BP heap-addr

	fmt.Println("exec file name:", execFileName())
	fmt.Println("ignored signals:", ignoredSignals())
	fmt.Println("no_new_privs, seccomp mode:", prctlGet(39), prctlGet(21))

	fmt.Println("monotonic elapsed ns:", time.Since(start).Nanoseconds())
}

// prctlGet is prctl(option) for a PR_GET_* option that answers in its
// result (PR_GET_NO_NEW_PRIVS 39, PR_GET_SECCOMP 21): a recorder that
// installs a seccomp filter sets both for the program.
func prctlGet(option uintptr) int64 {
	r, _, errno := syscall.Syscall(syscall.SYS_PRCTL, option, 0, 0)
	if errno != 0 {
		return -int64(errno)
	}
	return int64(r)
}

// ignoredSignals is the SigIgn mask the kernel reports.
func ignoredSignals() string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown: " + err.Error()
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "none"
}

// execFileName reads the string AT_EXECFN points to, straight from memory.
func execFileName() string {
	const atExecFn = 31
	auxv, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return "unknown: " + err.Error()
	}
	for i := 0; i+16 <= len(auxv); i += 16 {
		key := binary.LittleEndian.Uint64(auxv[i:])
		val := binary.LittleEndian.Uint64(auxv[i+8:])
		if key == atExecFn {
			// The kernel's copy on the initial stack, NUL-terminated.
			return unsafe.String((*byte)(unsafe.Pointer(uintptr(val))), cStrlen(uintptr(val)))
		}
	}
	return "none"
}

func cStrlen(p uintptr) int {
	n := 0
	for *(*byte)(unsafe.Pointer(p + uintptr(n))) != 0 {
		n++
	}
	return n
}
