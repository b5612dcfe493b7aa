// mapalias maps one file several times and prints what each mapping shows
// after stores through another mapping or writes to the file: natively the
// mappings share the file's pages, so replay must show the same.
//
// `mapalias` (no argument) maps a memfd twice MAP_SHARED (a ring buffer's
// trick) and a regular file twice, stores through one mapping and reads
// through the other, with pwrites and preads between.
package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

func main() {
	twice()
}

// twice: see the package comment.
func twice() {
	name := []byte("mapalias\x00")
	r, _, errno := syscall.Syscall(319 /* memfd_create */, uintptr(unsafe.Pointer(&name[0])), 0, 0)
	if errno != 0 {
		panic(errno)
	}
	aliasesOf(int(r), "memfd")
	f, err := os.CreateTemp("", "mapalias")
	if err != nil {
		panic(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	aliasesOf(int(f.Fd()), "file")
}

// aliasesOf maps two pages of fd twice (the second mapping from the second
// page on, too) and stores and writes through each in turn.
func aliasesOf(fd int, what string) {
	if err := syscall.Ftruncate(fd, 2*4096); err != nil {
		panic(err)
	}
	rw := syscall.PROT_READ | syscall.PROT_WRITE
	m1, err := syscall.Mmap(fd, 0, 2*4096, rw, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	m2, err := syscall.Mmap(fd, 0, 2*4096, rw, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	// Read-only, of the second page only.
	m3, err := syscall.Mmap(fd, 4096, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	m1[0] = 'A'
	fmt.Printf("%s: m2[0]=%q\n", what, m2[0])
	copy(m2[4096:], "second page")
	fmt.Printf("%s: m1[4096:]=%q m3=%q\n", what, m1[4096:4096+11], m3[:11])
	if _, err := syscall.Pwrite(fd, []byte("B"), 1); err != nil {
		panic(err)
	}
	fmt.Printf("%s: after pwrite m1[1]=%q m2[1]=%q\n", what, m1[1], m2[1])
	copy(m1[2:], "C")
	b := make([]byte, 3)
	if _, err := syscall.Pread(fd, b, 0); err != nil {
		panic(err)
	}
	fmt.Printf("%s: pread=%q\n", what, b)
	// A ring buffer's counters: increments through both mappings.
	for i := 0; i < 1000; i++ {
		m1[100]++
		m2[100]++
		seen := m2[100]
		note(seen) // #BP count
	}
	fmt.Printf("%s: counted %d\n", what, m1[100])
	syscall.Munmap(m1)
	fmt.Printf("%s: after munmap of the first m2[0:3]=%q\n", what, m2[0:3])
	syscall.Munmap(m2)
	syscall.Munmap(m3)
}

// note is where the debugger's tests read a count.
//
//go:noinline
func note(b byte) {}
