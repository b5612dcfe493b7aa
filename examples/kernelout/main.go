// Command kernelout makes calls whose answers the kernel writes into
// program memory in less common places, and prints what it got: sendmmsg's
// per-message byte counts (how glibc's resolver sends its A and AAAA
// queries), the network interface ioctls (SIOCGIFCONF, SIOCGIFINDEX,
// SIOCGIFFLAGS, SIOCGIFMTU on lo), get_mempolicy's node mask,
// sched_rr_get_interval, cachestat, and munmap of sealed memory (which
// fails), mlock of an evicted read-only shared file page, and keyctl's
// read and describe of a key it adds. It also tries io_uring_setup, which
// rrgo refuses (ENOSYS).
//
// Nondeterminism exercised: the kernel's answers (interface list, page
// cache state, timestamps of the network stack) written through pointers.
package main

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"unsafe"
)

const (
	sysSendmmsg  = 307
	sysCachestat = 451
	sysMseal     = 462
	sysAddKey    = 248
	sysKeyctl    = 250
)

type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
	_   [4]byte
}

func sendmmsg() {
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("sendmmsg: listen:", err)
		return
	}
	defer l.Close()
	port := l.LocalAddr().(*net.UDPAddr).Port
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		fmt.Println("sendmmsg: socket:", err)
		return
	}
	defer syscall.Close(fd)
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		fmt.Println("sendmmsg: connect:", err)
		return
	}
	payloads := [][]byte{[]byte("query-a"), []byte("query-aaaa-longer")}
	var iovs [2]syscall.Iovec
	var msgs [2]mmsghdr
	for i, p := range payloads {
		iovs[i].Base = &p[0]
		iovs[i].SetLen(len(p))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.Iovlen = 1
	}
	n, _, e := syscall.Syscall6(sysSendmmsg, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), 2, 0, 0, 0)
	if e != 0 {
		fmt.Println("sendmmsg:", e)
		return
	}
	fmt.Printf("sendmmsg: %d messages, %d and %d bytes\n", n, msgs[0].len, msgs[1].len) // #BP sendmmsg
}

type ifreq struct {
	name [16]byte
	data [24]byte
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) syscall.Errno {
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	return e
}

func interfaces() {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		fmt.Println("ioctl: socket:", err)
		return
	}
	defer syscall.Close(fd)
	var reqs [16]ifreq
	conf := struct {
		len int32
		_   [4]byte
		buf unsafe.Pointer
	}{len: int32(unsafe.Sizeof(reqs)), buf: unsafe.Pointer(&reqs[0])}
	if e := ioctl(fd, syscall.SIOCGIFCONF, unsafe.Pointer(&conf)); e != 0 {
		fmt.Println("SIOCGIFCONF:", e)
		return
	}
	fmt.Printf("SIOCGIFCONF: %d bytes\n", conf.len)
	var r ifreq
	copy(r.name[:], "lo")
	for _, q := range []struct {
		name string
		req  uintptr
	}{{"SIOCGIFINDEX", syscall.SIOCGIFINDEX}, {"SIOCGIFFLAGS", syscall.SIOCGIFFLAGS}, {"SIOCGIFMTU", syscall.SIOCGIFMTU}} {
		r.data = [24]byte{}
		if e := ioctl(fd, q.req, unsafe.Pointer(&r)); e != 0 {
			fmt.Println(q.name, e)
			continue
		}
		fmt.Printf("%s lo: %d\n", q.name, *(*int32)(unsafe.Pointer(&r.data[0])))
	}
}

func mempolicy() {
	var mode int32 = -1
	var mask [2]uint64
	mask[0] = 0xdead
	_, _, e := syscall.Syscall6(syscall.SYS_GET_MEMPOLICY, uintptr(unsafe.Pointer(&mode)), uintptr(unsafe.Pointer(&mask[0])), 128, 0, 0, 0)
	fmt.Printf("get_mempolicy: mode %d mask %#x (%v)\n", mode, mask[0], e)
}

func schedrr() {
	ts := syscall.Timespec{Sec: -1, Nsec: -1}
	_, _, e := syscall.Syscall(syscall.SYS_SCHED_RR_GET_INTERVAL, 0, uintptr(unsafe.Pointer(&ts)), 0)
	fmt.Printf("sched_rr_get_interval: %d.%09d (%v)\n", ts.Sec, ts.Nsec, e)
}

func cachestat() {
	f, err := os.Open(os.Args[0])
	if err != nil {
		fmt.Println("cachestat:", err)
		return
	}
	defer f.Close()
	rng := [2]uint64{0, 0} // the whole file
	var cs [5]uint64
	for i := range cs {
		cs[i] = 1 << 62
	}
	_, _, e := syscall.Syscall6(sysCachestat, f.Fd(), uintptr(unsafe.Pointer(&rng)), uintptr(unsafe.Pointer(&cs)), 0, 0, 0)
	fmt.Printf("cachestat: cached %d dirty %d (%v)\n", cs[0], cs[1], e)
}

func sealed() {
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		fmt.Println("mseal: mmap:", err)
		return
	}
	addr := uintptr(unsafe.Pointer(&mem[0]))
	_, _, e := syscall.Syscall(sysMseal, addr, 4096, 0)
	_, _, u := syscall.Syscall(syscall.SYS_MUNMAP, addr, 4096, 0)
	fmt.Printf("mseal: %v; munmap after it: %v\n", e, u)
}

func iouring() {
	var params [120]byte
	r, _, e := syscall.Syscall(425, 4, uintptr(unsafe.Pointer(&params[0])), 0)
	if e != 0 {
		fmt.Println("io_uring_setup:", e)
		return
	}
	syscall.Close(int(r))
	fmt.Println("io_uring_setup: a ring")
}

// mlockEvicted locks a read-only shared file page after dropping it from
// the page cache: under write-protect tracking the kernel looped forever.
func mlockEvicted() {
	f, err := os.CreateTemp("", "kernelout")
	if err != nil {
		fmt.Println("mlock:", err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	f.Write(make([]byte, 4096))
	f.Sync()
	m, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		fmt.Println("mlock: mmap:", err)
		return
	}
	syscall.Madvise(m, syscall.MADV_DONTNEED)
	syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, 4 /* POSIX_FADV_DONTNEED */, 0, 0)
	fmt.Println("mlock of an evicted read-only shared page:", syscall.Mlock(m))
	syscall.Munmap(m)
}

// keys adds a key to the process keyring and reads it back with keyctl,
// into a buffer too small and then into one large enough.
func keys() {
	typ, desc := []byte("user\x00"), []byte("rrgo-kernelout\x00")
	payload := []byte("a secret of 24 bytes....")
	id, _, e := syscall.Syscall6(sysAddKey, uintptr(unsafe.Pointer(&typ[0])), uintptr(unsafe.Pointer(&desc[0])),
		uintptr(unsafe.Pointer(&payload[0])), uintptr(len(payload)), ^uintptr(1), 0) // KEY_SPEC_PROCESS_KEYRING
	if e != 0 {
		fmt.Println("add_key:", e)
		return
	}
	small := make([]byte, 8)
	n, _, e := syscall.Syscall6(sysKeyctl, 11, id, uintptr(unsafe.Pointer(&small[0])), uintptr(len(small)), 0, 0)
	fmt.Printf("KEYCTL_READ into 8 bytes: %d %q (%v)\n", n, small, e)
	big := make([]byte, 64)
	n, _, e = syscall.Syscall6(sysKeyctl, 11, id, uintptr(unsafe.Pointer(&big[0])), uintptr(len(big)), 0, 0)
	fmt.Printf("KEYCTL_READ: %d %q (%v)\n", n, big[:min(int(n), len(big))], e)
	n, _, e = syscall.Syscall6(sysKeyctl, 6, id, uintptr(unsafe.Pointer(&big[0])), uintptr(len(big)), 0, 0)
	if int(n) > 0 && int(n) <= len(big) {
		// "type;uid;gid;perm;description": the ids are this user's.
		fmt.Printf("KEYCTL_DESCRIBE: %d bytes, ends %q (%v)\n", n, big[int(n)-15:int(n)-1], e)
	} else {
		fmt.Println("KEYCTL_DESCRIBE:", n, e)
	}
}

func main() {
	keys()
	mlockEvicted()
	sendmmsg()
	interfaces()
	mempolicy()
	schedrr()
	cachestat()
	sealed()
	iouring()
}
