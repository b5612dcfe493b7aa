// Command cvars calls a C function whose locals and arguments have C's
// types — integers of every width, floating point, a C string, a struct
// with an array and a nested struct, a pointer to it, an enum and a
// typedef — so that a debugger stopped inside the C code can show them as
// C values. The function's result is printed from Go.
package main

/*
#include <stdint.h>
#include <string.h>

typedef unsigned int counter_t;

enum color { RED, GREEN = 5, BLUE };

struct point {
	int x;
	int y;
};

struct shape {
	const char *name;
	struct point corner;
	short sides[4];
	double scale;
	enum color color;
};

static volatile long sink;

static long describe(int n, const char *label, struct shape *s) {
	unsigned char small = 200;
	int64_t big = -1234567890123LL;
	float ratio = 0.5f;
	counter_t count = 7;
	char word[8] = "abc";
	const char *none = 0;
	struct point *at = &s->corner;
	enum color c = s->color;
	long total = n + (long)strlen(label) + small + count + at->x + c + word[0] + (none == 0); // #BP c-body
	sink = total + (long)(ratio * 2) + (long)big;
	return total;
}

static long run(int n) {
	struct shape s = {"square", {3, 4}, {1, 2, 3, 4}, 1.5, BLUE};
	return describe(n, "hello", &s);
}
*/
import "C"

import "fmt"

func main() {
	total := C.run(C.int(41))
	fmt.Println("total", int64(total)) // #BP go-after
}
