#include "funcdata.h"

// func Grow()
// A frame of Size (16 KiB) bytes that holds no pointers and is never
// written: the function prologue's stack check does all the work.
TEXT ·Grow(SB), 0, $16384-0
	NO_LOCAL_POINTERS
	RET
