// Command httpserver starts an HTTP server on 127.0.0.1:0 (a random port),
// makes 20 requests to it with a client (10 one after another, 10 at once),
// prints every response body and shuts the server down gracefully.
// With -load N it then makes N more requests from 4 goroutines (a
// syscall-heavy workload for benchmarks) and prints only a digest of them.
//
// Nondeterminism exercised: the kernel-chosen port, socket I/O through the
// netpoller (epoll), the arrival order of concurrent requests (each response
// carries the server's arrival counter) and server-side wall-clock time.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var arrivals atomic.Int64

func handle(w http.ResponseWriter, r *http.Request) {
	n := arrivals.Add(1) // #BP handler
	fmt.Fprintf(w, "arrival=%d path=%s server-ns=%d", n, r.URL.Path, time.Now().UnixNano()%1_000_000_000)
}

func get(client *http.Client, base, path string) string {
	resp, err := client.Get(base + path)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // #BP client-read
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}

func main() {
	load := flag.Int("load", 0, "extra requests to make after the printed ones")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", handle)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	base := "http://" + ln.Addr().String()
	fmt.Println("listening on", base)
	client := &http.Client{Timeout: 5 * time.Second}

	for i := range 10 {
		fmt.Printf("seq %02d: %s\n", i, get(client, base, fmt.Sprintf("/seq/%d", i)))
	}

	bodies := make([]string, 10)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = get(client, base, fmt.Sprintf("/par/%d", i))
		}()
	}
	wg.Wait()
	for i, b := range bodies {
		fmt.Printf("par %02d: %s\n", i, b)
	}
	if *load > 0 {
		var digest atomic.Uint64
		var lw sync.WaitGroup
		for w := range 4 {
			lw.Add(1)
			go func() {
				defer lw.Done()
				for i := w; i < *load; i += 4 {
					for _, c := range get(client, base, fmt.Sprintf("/load/%d", i)) {
						digest.Add(uint64(c))
					}
				}
			}()
		}
		lw.Wait()
		fmt.Printf("load: %d requests, digest %d\n", *load, digest.Load())
	}

	// A connection the client dialed but never used looks "new" to the server,
	// and Shutdown waits up to 5 s for such connections: keep closing the
	// client's idle connections (including ones whose dial finishes late) until
	// Shutdown is done.
	shutdownDone := make(chan struct{})
	go func() {
		for {
			client.CloseIdleConnections()
			select {
			case <-shutdownDone:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(ctx) // #BP shutdown
	close(shutdownDone)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		os.Exit(1)
	}
	fmt.Println("serve returned:", <-serveErr)
	fmt.Println("requests served:", arrivals.Load())
}
