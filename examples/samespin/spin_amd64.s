#include "textflag.h"

// func spinInMemory(counter *uint64, stop *uint32)
//
// Adds to *counter until *stop holds stopValue. Every register is the same
// on every turn: the loop's whole state is in memory. (Immediates are wide
// so that each instruction is long enough for replay's search stub.)
TEXT ·spinInMemory(SB), NOSPLIT, $0-16
	MOVQ counter+0(FP), AX
	MOVQ stop+8(FP), BX
loop:
	LOCK
	ADDQ $0x1000, (AX)
	CMPL (BX), $0x5eed
	JNE  loop
	RET
