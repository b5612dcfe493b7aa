// Command filehandle asks the kernel for file handles with
// name_to_handle_at(2), as file watchers and container tools do: first
// with no room, which fails with EOVERFLOW and writes the size needed into
// the struct (how callers learn it), then with that room. It prints each
// handle's size, type, bytes and mount id, and exits 3 if the kernel's
// answers did not reach its memory.
//
// Nondeterminism exercised: the handles and mount ids are the kernel's
// (they differ between file systems and machines); the kernel writes them
// into program memory, also on failure.
package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

const (
	atFDCWD           = -100
	sysNameToHandleAt = 303 // x86-64
)

type handle struct {
	size uint32
	typ  int32
	data [128]byte
}

func nameToHandle(path string, h *handle, mountID *int32) error {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	dirfd := atFDCWD
	_, _, e := syscall.Syscall6(sysNameToHandleAt, uintptr(dirfd),
		uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(h)), uintptr(unsafe.Pointer(mountID)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func main() {
	paths := []string{".", "/proc/self", os.Args[0]}
	for _, path := range paths {
		var h handle
		mountID := int32(-1)
		err := nameToHandle(path, &h, &mountID) // #BP no-room
		if !errors.Is(err, syscall.EOVERFLOW) {
			fmt.Printf("%s: no room: %v\n", path, err)
			continue
		}
		if h.size == 0 {
			fmt.Printf("%s: EOVERFLOW without the size\n", path)
			os.Exit(3)
		}
		need := h.size
		if err := nameToHandle(path, &h, &mountID); err != nil { // #BP with-room
			fmt.Printf("%s: %v\n", path, err)
			continue
		}
		if mountID == -1 || h.size != need {
			fmt.Printf("%s: the kernel's answer is missing (size %d of %d, mount %d)\n", path, h.size, need, mountID)
			os.Exit(3)
		}
		fmt.Printf("%s: handle of %d bytes, type %d, mount %d: %x\n", path, h.size, h.typ, mountID, h.data[:h.size])
	}
}
