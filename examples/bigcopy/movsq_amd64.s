#include "textflag.h"

// func movsq(dst, src unsafe.Pointer, words uintptr)
//
// One REP MOVSQ, whatever the CPU: Go's own memmove picks AVX loops on
// CPUs with AVX and without ERMS, and never runs a string instruction.
TEXT ·movsq(SB), NOSPLIT, $0-24
	MOVQ	dst+0(FP), DI
	MOVQ	src+8(FP), SI
	MOVQ	words+16(FP), CX
	CLD
	REP; MOVSQ
	RET
