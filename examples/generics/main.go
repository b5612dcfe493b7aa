// Command generics is the test bed for reading values in generic code: a
// generic function over a slice, one over a map, a generic struct with a
// method and a generic type constrained by an interface, each called with
// several instantiations. Go compiles them to shape-typed functions that
// take a dictionary; the debugger must show the real types.
//
// It prints one line per call and exits 0.
//
// Nondeterminism exercised: none (map keys are sorted before printing).
package main

import (
	"fmt"
	"sort"
)

// Number is the constraint of Sum and Stack.
type Number interface {
	~int | ~float64
}

//go:noinline
func Sum[T int | float64](xs []T) T {
	var total T
	for _, x := range xs {
		total += x
	}
	return total // #BP sum-return
}

//go:noinline
func Keys[K comparable, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys // #BP keys-return
}

type Pair[A, B any] struct {
	First  A
	Second B
}

//go:noinline
func (p Pair[A, B]) Swap() Pair[B, A] {
	q := Pair[B, A]{First: p.Second, Second: p.First}
	return q // #BP swap-return
}

// Stack is a generic type whose parameter is constrained by Number.
type Stack[T Number] struct {
	items []T
	name  string
}

//go:noinline
func (s *Stack[T]) Push(v T) int {
	s.items = append(s.items, v)
	n := len(s.items)
	return n // #BP push-return
}

//go:noinline
func MakePair[A, B any](a A, b B) Pair[A, B] {
	p := Pair[A, B]{First: a, Second: b}
	return p // #BP makepair-return
}

func sorted[K int | string](ks []K) []K {
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

func main() {
	fmt.Println("sum ints", Sum([]int{1, 2, 3}))
	fmt.Println("sum floats", Sum([]float64{1.5, 2.5}))

	fmt.Println("keys strings", sorted(Keys(map[string]int{"a": 1, "b": 2})))
	fmt.Println("keys ints", sorted(Keys(map[int]string{7: "seven", 8: "eight", 9: "nine"})))

	p := MakePair(7, "seven")
	fmt.Printf("pair %+v swapped %+v\n", p, p.Swap())
	q := MakePair("x", 2.5)
	fmt.Printf("pair %+v swapped %+v\n", q, q.Swap())

	s := &Stack[int]{name: "ints"}
	s.Push(10)
	s.Push(20)
	f := &Stack[float64]{name: "floats"}
	f.Push(0.5)
	fmt.Println("stacks", s.name, s.items, f.name, f.items)
}
