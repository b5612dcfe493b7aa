// Package ledger is a library package of the program's own module, for
// examples/stalls: a wait inside it is placed here, not at the line of
// package main that called into it.
package ledger

import (
	"sync"
	"time"
)

// Book is a counter behind a mutex.
type Book struct {
	mu      sync.Mutex
	entries int
}

// Hold locks the book, says so on locked, and keeps it for d.
func (b *Book) Hold(d time.Duration, locked chan<- struct{}) {
	b.mu.Lock() // #BP ledger-hold
	close(locked)
	time.Sleep(d)
	b.mu.Unlock() // #BP ledger-release
}

// Post adds an entry, waiting for whoever holds the book.
func (b *Book) Post() int {
	b.mu.Lock() // #BP ledger-post
	defer b.mu.Unlock()
	b.entries++
	return b.entries
}
