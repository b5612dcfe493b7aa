// Command cgo calls C code through cgo: a C function malloc's a buffer and
// fills it with bytes derived from clock_gettime, getpid() and rand(); Go
// copies it with C.GoBytes, frees it with C.free and prints a SHA-256 digest.
// The C function is called from main and from several goroutines at once.
//
// Nondeterminism exercised: C library calls made on cgo threads (the binary
// is dynamically linked against glibc, threads are created with
// pthread_create), the C clock and pid, glibc's rand() state shared between
// threads, and goroutine scheduling across cgo calls. Every digest differs
// between runs. At the end a C function forks (glibc's fork) and the child
// asks for its CPU set by its cached tid, and a C thread does the same.
package main

/*
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

// fill_buffer returns a malloc'ed buffer of n bytes; the caller frees it.
static unsigned char *fill_buffer(size_t n, unsigned int salt) {
	unsigned char *buf = malloc(n);
	if (buf == NULL) {
		return NULL;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint32_t state = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16) ^ salt;
	for (size_t i = 0; i < n; i++) {
		state = state * 1103515245u + 12345u;
		buf[i] = (unsigned char)((state >> 16) ^ (uint32_t)rand());
	}
	return buf;
}

static long c_getpid(void) {
	return (long)getpid();
}

// fork_affinity forks with glibc's fork, which has the kernel write the
// child's tid into the child's pthread struct; the child asks for its own
// CPU set through pthread_self, which passes that cached tid to the kernel.
// Returns the child's wait status (0: it got a non-empty set).
static int fork_affinity(void) {
	pid_t pid = fork();
	if (pid == 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		int err = pthread_getaffinity_np(pthread_self(), sizeof set, &set);
		_exit(err == 0 && CPU_COUNT(&set) > 0 ? 0 : 1);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	return status;
}

static void *affinity_thread(void *arg) {
	cpu_set_t set;
	CPU_ZERO(&set);
	int err = pthread_getaffinity_np(pthread_self(), sizeof set, &set);
	*(int *)arg = err == 0 && CPU_COUNT(&set) > 0 ? 0 : 1;
	return NULL;
}

// thread_affinity starts a C thread that at once asks for its CPU set
// through pthread_self, which passes the tid the kernel wrote into the
// thread's pthread struct (CLONE_PARENT_SETTID) as the thread was created.
// Returns 0 if the thread got a non-empty set.
static int thread_affinity(void) {
	int status = -1;
	pthread_t t;
	if (pthread_create(&t, NULL, affinity_thread, &status) != 0) {
		return -2;
	}
	pthread_join(t, NULL);
	return status;
}
*/
import "C"

import (
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"unsafe"
)

const bufSize = 4096

// digestFromC calls into C, copies the C buffer into Go memory and frees it.
func digestFromC(salt uint32) string {
	p := C.fill_buffer(C.size_t(bufSize), C.uint(salt)) // #BP call-c
	if p == nil {
		fmt.Fprintln(os.Stderr, "cgo: malloc failed")
		os.Exit(1)
	}
	data := C.GoBytes(unsafe.Pointer(p), C.int(bufSize))
	C.free(unsafe.Pointer(p)) // #BP free
	sum := sha256.Sum256(data)
	return fmt.Sprintf("%x", sum[:12])
}

func main() {
	fmt.Println("C getpid matches os.Getpid:", int(C.c_getpid()) == os.Getpid())
	fmt.Println("main digest:", digestFromC(0)) // #BP main-digest

	const goroutines = 8
	digests := make([]string, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 4 {
				d := digestFromC(uint32(i*16 + j))
				if j == 3 {
					digests[i] = d
				}
			}
		}()
	}
	wg.Wait()
	for i, d := range digests {
		fmt.Printf("goroutine %d digest: %s\n", i, d)
	}
	fmt.Println("forked C child's affinity status:", int(C.fork_affinity()))
	fmt.Println("C thread's affinity status:", int(C.thread_affinity()))
}
