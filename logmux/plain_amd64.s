//go:build !purego

#include "textflag.h"

// CHECK sets in R the bits of the bytes of X that need escaping in a JSON
// string: below 0x20 (min(x, 0x1f) == x), '"', '\\', and from 0x80 (the
// high bit of x itself, which PMOVMSKB takes).
#define CHECK(X, R) \
	MOVO X, X1; PMINUB X4, X1; PCMPEQB X, X1; \
	MOVO X, X2; PCMPEQB X5, X2; \
	MOVO X, X3; PCMPEQB X6, X3; \
	POR X2, X1; POR X3, X1; POR X, X1; \
	PMOVMSKB X1, R

// func plainJSON(b []byte) int
//
// plainJSONGo, sixteen bytes at a time with SSE2 (which every amd64 has).
// The last sixteen bytes are checked as one block that overlaps the one
// before, whose bytes are all plain; fewer than sixteen, one at a time.
TEXT ·plainJSON(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), BX
	XORQ AX, AX
	CMPQ BX, $16
	JB   short
	MOVQ $0x1f1f1f1f1f1f1f1f, DX
	MOVQ DX, X4
	PUNPCKLQDQ X4, X4
	MOVQ $0x2222222222222222, DX
	MOVQ DX, X5
	PUNPCKLQDQ X5, X5
	MOVQ $0x5c5c5c5c5c5c5c5c, DX
	MOVQ DX, X6
	PUNPCKLQDQ X6, X6
	LEAQ -16(BX), R8 // the last block's start

loop:
	CMPQ AX, R8
	JAE  last
	MOVOU (SI)(AX*1), X0
	CHECK(X0, DX)
	TESTL DX, DX
	JNZ  found
	ADDQ $16, AX
	JMP  loop

last:
	MOVQ R8, AX
	MOVOU (SI)(AX*1), X0
	CHECK(X0, DX)
	TESTL DX, DX
	JNZ  found
	MOVQ BX, ret+24(FP)
	RET

found:
	BSFL DX, DX
	ADDQ DX, AX
	MOVQ AX, ret+24(FP)
	RET

short:
	CMPQ AX, BX
	JAE  done
	MOVBLZX (SI)(AX*1), DX
	CMPB DX, $0x20
	JB   done
	CMPB DX, $0x80
	JAE  done
	CMPB DX, $'"'
	JEQ  done
	CMPB DX, $'\\'
	JEQ  done
	INCQ AX
	JMP  short

done:
	MOVQ AX, ret+24(FP)
	RET
