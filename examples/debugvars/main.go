// Command debugvars is the test bed for reading Go values from DWARF: the
// function inspect has arguments and locals of every kind of Go value
// (numbers, complex numbers, strings, slices, arrays, maps, structs,
// pointers, unsafe.Pointers, interfaces, errors, channels, funcs and
// closures, time.Time), two package-level variables and constants.
//
// Normally it prints a summary of those values and exits. With -block it
// prints "ready <pid>" and blocks forever inside inspect, at the line marked
// `#BP inspect`, so a test can read the values from the live process.
//
// Nondeterminism exercised: none.
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
	"unsafe"
)

var counter = 42
var greeting = "hi"

// Constants: Go's DWARF has the integer ones (maxItems, typed or not);
// not floats or strings (ratio, banner).
const maxItems = 64
const level tier = 2
const ratio = 0.5
const banner = "debugvars"

type tier int

// never is never sent to: receiving from it blocks the goroutine.
var never = make(chan int)

type inner struct {
	A int
	B string
}

type point struct {
	X, Y  int
	Label string
	In    inner
}

type myErr struct {
	code int
	msg  string
}

// Promoted fields: wrap2.F is its own named's (depth 1), not wrap1's
// (depth 2); viaPtr's come through an embedded pointer; twins.F is
// ambiguous (two at the same depth).
type named struct{ F string }
type wrap1 struct{ named }
type wrap2 struct {
	wrap1
	named
}
type viaPtr struct{ *named }
type other struct{ F string }
type twins struct {
	named
	other
}

func (e *myErr) Error() string { return fmt.Sprintf("code %d: %s", e.code, e.msg) }

func double(n int) int { return 2 * n }

//go:noinline
func inspect(n int, f float64, ok bool, s string, xs []int, m map[string]int, big map[string]int, huge map[int]int, pp *point, ei any, err error, ch chan int, block bool) int {
	long := strings.Repeat("ab", 350)
	r := rune(s[0]) + 1
	b := byte(s[1]) - 32
	var nilxs []int
	capxs := make([]int, 2, 4)
	capxs[0], capxs[1] = n, n+1
	arr := [3]int{n + 3, n + 13, n + 23}
	mi := map[int]string{1: "one", 2: "two", 3: s}
	var nilm map[string]int
	p := point{X: 1, Y: 2, Label: "end", In: inner{A: n - 2, B: "deep"}}
	var np *point
	es := any(s + "!")
	ep := any(pp)
	var nilerr error
	cerr := error(&myErr{code: n, msg: "bad"})
	ae := any(cerr)
	fn := double
	w2 := wrap2{wrap1: wrap1{named{"T-inside-W1"}}, named: named{"T-inside-W2"}}
	vp := viaPtr{&named{"via pointer"}}
	tw := twins{named{"one"}, other{"two"}}
	c := complex(f, float64(n))
	c64 := complex64(c)
	ifs := any(p)
	bs := []byte("bytes!")
	up := unsafe.Pointer(pp)
	var nilup unsafe.Pointer
	t0 := time.Date(2024, time.January, 2, 15, 4, 5, 0, time.UTC)
	tz := time.Date(2024, time.January, 2, 15, 4, 5, 0, time.FixedZone("X", 3600))
	var tzero time.Time
	// Closures: base and s are captured by value, hits by reference.
	base := n * 10
	add := func(d int) int { return base + d + len(s) }
	hits := 0
	count := func() { hits++ }
	count()
	// A method value: a closure that captured its receiver as ".this".
	describe := cerr.Error
	if block {
		// A sleeping goroutine keeps the runtime from declaring a deadlock.
		go func() {
			for {
				time.Sleep(time.Hour)
			}
		}()
		fmt.Printf("ready %d\n", os.Getpid())
		<-never // #BP inspect
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("n=%d f=%v ok=%v s=%q len(long)=%d r=%q b=%q\n", n, f, ok, s, len(long), r, b)
	fmt.Printf("xs=%v cap=%d nilxs=%v capxs=%v cap=%d arr=%v\n", xs, cap(xs), nilxs == nil, capxs, cap(capxs), arr)
	fmt.Printf("m keys=%v mi=%v len(big)=%d big[k29]=%d len(huge)=%d nilm=%v\n", keys, mi, len(big), big["k29"], len(huge), nilm == nil)
	fmt.Printf("p=%+v pp=%+v np=%v\n", p, *pp, np)
	fmt.Printf("ei=%v es=%v ep=%T err=%v cerr=%v nilerr=%v ae=%v\n", ei, es, ep, err, cerr, nilerr, ae)
	fmt.Printf("ch len=%d cap=%d fn(3)=%d counter=%d greeting=%q\n", len(ch), cap(ch), fn(3), counter, greeting)
	fmt.Printf("w2.F=%s w2.wrap1.F=%s vp.F=%s tw=%s,%s\n", w2.F, w2.wrap1.F, vp.F, tw.named.F, tw.other.F) // #BP promoted
	fmt.Printf("c=%v c64=%v ifs=%v bs=%s up=%v nilup=%v\n", c, c64, ifs, bs, up == unsafe.Pointer(pp), nilup)
	fmt.Printf("t0=%v tz=%v tzero=%v add(1)=%d hits=%d describe()=%s\n", t0, tz, tzero.IsZero(), add(1), hits, describe())
	fmt.Printf("maxItems=%d level=%d ratio=%v banner=%s\n", maxItems, level, ratio, banner)
	return n + len(keys)
}

func main() {
	block := len(os.Args) > 1 && os.Args[1] == "-block"
	xs := make([]int, 3, 5)
	xs[0], xs[1], xs[2] = 1, 2, 3
	m := map[string]int{"a": 1, "b": 2, "c": 3}
	pp := &point{X: 10, Y: 20, Label: "ptr", In: inner{A: 3, B: "in"}}
	// big spans several groups; huge several tables of the swiss map's directory.
	big := make(map[string]int)
	for i := 0; i < 30; i++ {
		big[fmt.Sprintf("k%02d", i)] = i * 7
	}
	huge := make(map[int]int)
	for i := 0; i < 2000; i++ {
		huge[i] = i + 7
	}
	ch := make(chan int, 3)
	ch <- 1
	ch <- 2
	r := inspect(7, 3.25, true, "hello", xs, m, big, huge, pp, any(42), errors.New("boom"), ch, block)
	fmt.Println("result", r)
}
