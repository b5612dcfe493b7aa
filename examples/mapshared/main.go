// mapshared maps a file MAP_SHARED, changes the file with pwrite and write
// (not through the mapping), and prints what the mapping then shows: the
// kernel changed the mapped pages, which replay must reproduce.
//
// `mapshared wait FILE` maps FILE shared, says `ready pid=N` on stderr and
// spins until another process writes a non-zero first word into the file:
// a change from outside the recording, which replay cannot see (its stall
// error is tested).
//
// `mapshared children` starts children that map a file shared and exit
// while the parent keeps writing the file: a child past its exit_group
// still maps it for a moment, but nothing of it runs again.
//
// `mapshared stores` maps a file shared and starts a child that maps it too
// and stores into it — plain memory stores, no syscall tells — as Go's
// telemetry counters do in `go` and every tool it runs; the parent sleeps
// until it sees the stores and prints them.
//
// `mapshared counting` counts in a file it maps shared from one goroutine
// (no syscalls) while another writes a file now and then (writes that give
// up the CPU), and prints the count kept in a local variable next to the
// count in the file: the same, natively and in a replay.
//
// `mapshared aliases` maps one 64 KiB file shared 1,024 times over 64 MB
// (as the runtime's TestMemmoveOverflow maps one 49,152 times over 3 GB),
// counts into the first mapping (reading only that one) and runs a child
// process between counts: no other process maps the file, so no store of
// another process can change it.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "wait" {
		waitForOutsideWrite(os.Args[2])
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "mapper" {
		mapAndExit(os.Args[2])
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "children" {
		writeWhileChildrenExit()
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "stores" {
		seeAChildsStores()
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "counting" {
		countWhileWriting()
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "aliases" {
		countWithAliases()
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "child" {
		fmt.Println("child ran")
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "storer" {
		storeAndExit(os.Args[2])
		return
	}
	dir, err := os.MkdirTemp("", "mapshared")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "db"))
	if err != nil {
		panic(err)
	}
	page := make([]byte, 3*4096)
	for i := range page {
		page[i] = 'a' + byte(i/4096)
	}
	if _, err := f.Write(page); err != nil {
		panic(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, len(page), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	fmt.Printf("before: %q %q\n", m[100:105], m[4096+7:4096+12])
	// pwrite64 in the middle of page 0 and across pages 1-2.
	if _, err := f.WriteAt([]byte("HELLO"), 100); err != nil {
		panic(err)
	}
	if _, err := f.WriteAt([]byte("SPANNING"), 2*4096-4); err != nil {
		panic(err)
	}
	fmt.Printf("after pwrite: %q %q\n", m[100:105], m[2*4096-4:2*4096+4])
	// write at the file offset (set by Seek).
	if _, err := f.Seek(4096+7, 0); err != nil {
		panic(err)
	}
	if _, err := f.Write([]byte("WORLD")); err != nil {
		panic(err)
	}
	fmt.Printf("after write: %q\n", m[4096+7:4096+12])
	sum := 0
	for _, b := range m {
		sum += int(b)
	}
	fmt.Printf("sum %d\n", sum)
	syscall.Munmap(m)
	memfd()
}

// memfd maps an anonymous file (named "/memfd:… (deleted)" in /proc):
// rrgo stores its content through the descriptor.
func memfd() {
	name := []byte("rrgo\x00")
	fd, _, errno := syscall.Syscall(319 /* memfd_create */, uintptr(unsafe.Pointer(&name[0])), 0, 0)
	if errno != 0 {
		fmt.Println("memfd_create:", errno)
		return
	}
	f := os.NewFile(fd, "memfd")
	defer f.Close()
	f.Write([]byte("memfd contents"))
	m, err := syscall.Mmap(int(fd), 0, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	fmt.Printf("memfd: %q\n", m[:14])
	f.WriteAt([]byte("MEMFD"), 0)
	fmt.Printf("memfd after pwrite: %q\n", m[:14])
}

func waitForOutsideWrite(path string) {
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if _, err := f.Write(make([]byte, 4096)); err != nil {
		panic(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	word := (*uint32)(unsafe.Pointer(&m[0]))
	fmt.Fprintf(os.Stderr, "ready pid=%d\n", os.Getpid())
	for atomic.LoadUint32(word) == 0 {
	}
	fmt.Printf("changed: %#x\n", atomic.LoadUint32(word))
}

func mapAndExit(path string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	fmt.Printf("child saw %d\n", m[0])
	os.Exit(0)
}

func writeWhileChildrenExit() {
	dir, err := os.MkdirTemp("", "mapshared")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "counter")
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if _, err := f.Write(make([]byte, 4096)); err != nil {
		panic(err)
	}
	for c := 0; c < 4; c++ {
		cmd := exec.Command(os.Args[0], "mapper", path)
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		done := make(chan error)
		go func() { done <- cmd.Wait() }()
		for i := 1; ; i++ {
			if _, err := f.WriteAt([]byte{byte(i)}, 0); err != nil {
				panic(err)
			}
			select {
			case err := <-done:
				if err != nil {
					panic(err)
				}
			default:
				continue
			}
			break
		}
	}
	fmt.Println("children done")
}

// seeAChildsStores: the parent only sleeps while the child stores, so what
// it reads comes from the child's memory stores alone.
func seeAChildsStores() {
	dir, err := os.MkdirTemp("", "mapshared")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "counters")
	m := mapZeros(path, 4*4096)
	words := [3]*uint32{
		(*uint32)(unsafe.Pointer(&m[0])),
		(*uint32)(unsafe.Pointer(&m[2*4096+8])),
		(*uint32)(unsafe.Pointer(&m[3*4096+100])),
	}
	atomic.AddUint32(words[0], 1) // the parent's own count, as go's
	cmd := exec.Command(os.Args[0], "storer", path)
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	for atomic.LoadUint32(words[2]) == 0 {
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("child stored: %d %#x %#x\n", atomic.LoadUint32(words[0]), atomic.LoadUint32(words[1]), atomic.LoadUint32(words[2]))
	if err := cmd.Wait(); err != nil {
		panic(err)
	}
}

// storeAndExit counts into the shared file and exits without a write.
func storeAndExit(path string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 4*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	atomic.AddUint32((*uint32)(unsafe.Pointer(&m[0])), 1)
	for i := 0; i < 1000; i++ {
		atomic.AddUint32((*uint32)(unsafe.Pointer(&m[2*4096+8])), 0x10)
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&m[3*4096+100])), 0x5eed)
	os.Exit(0)
}

// countWhileWriting: one goroutine counts into the shared mapping, spinning,
// while the main goroutine writes another file 50 times; each write's end
// comes while the counter runs.
func countWhileWriting() {
	dir, err := os.MkdirTemp("", "mapshared")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	m := mapZeros(filepath.Join(dir, "counter"), 4096)
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		panic(err)
	}
	counter := (*uint64)(unsafe.Pointer(&m[64]))
	var stop atomic.Bool
	started := make(chan struct{})
	local := make(chan uint64)
	go func() {
		var n uint64
		close(started)
		for !stop.Load() {
			atomic.AddUint64(counter, 1)
			n++
		}
		local <- n
	}()
	<-started
	for i := 0; i < 50; i++ {
		if _, err := log.Write([]byte{byte(i)}); err != nil {
			panic(err)
		}
	}
	stop.Store(true)
	n := <-local
	fmt.Printf("counted %d, the file says %d, equal: %v\n", n, atomic.LoadUint64(counter), n == atomic.LoadUint64(counter))
}

// mapZeros creates a file of size zero bytes at path and maps it shared,
// for reading and writing.
func mapZeros(path string, size int) []byte {
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, size)); err != nil {
		panic(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	return m
}

// countWithAliases: see `mapshared aliases` above.
func countWithAliases() {
	dir, err := os.MkdirTemp("", "mapshared")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	const size, copies = 64 << 10, 1024
	f, err := os.Create(filepath.Join(dir, "aliased"))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, size)); err != nil {
		panic(err)
	}
	// Reserve the range, then map the file over it piece by piece.
	all, err := syscall.Mmap(-1, 0, size*copies, syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		panic(err)
	}
	base := uintptr(unsafe.Pointer(&all[0]))
	for i := uintptr(0); i < copies; i++ {
		_, _, errno := syscall.Syscall6(syscall.SYS_MMAP, base+i*size, size,
			syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_FIXED, f.Fd(), 0)
		if errno != 0 {
			panic(errno)
		}
	}
	counter := (*uint64)(unsafe.Pointer(base + 128))
	for c := 0; c < 4; c++ {
		for i := 0; i < 1000; i++ {
			atomic.AddUint64(counter, 1)
		}
		out, err := exec.Command(os.Args[0], "child").Output()
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s", out)
	}
	fmt.Printf("aliases counted %d\n", atomic.LoadUint64(counter))
	syscall.Munmap(all)
}
