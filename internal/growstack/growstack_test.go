package growstack

import (
	"testing"
	"unsafe"
)

// addr returns the address of a variable in its caller's frame; a stack
// copy moves it.
//
//go:noinline
func addr(p *int) uintptr { return uintptr(unsafe.Pointer(p)) }

// deep uses about n KiB of stack.
//
//go:noinline
func deep(n int) byte {
	var b [1 << 10]byte
	b[n%len(b)] = byte(n)
	if n == 0 {
		return b[0]
	}
	return deep(n-1) + b[n%len(b)]
}

// TestGrow_OneCopyUpFront proves the stack is copied by Grow and not again
// by work that fits in Size: the address of a local moves once.
func TestGrow_OneCopyUpFront(t *testing.T) {
	type result struct{ before, afterGrow, afterWork uintptr }
	done := make(chan result)
	go func() {
		var local int
		var r result
		r.before = addr(&local)
		Grow()
		r.afterGrow = addr(&local)
		deep(Size/(1<<10) - 4)
		r.afterWork = addr(&local)
		done <- r
	}()
	r := <-done
	if r.before == r.afterGrow {
		t.Fatalf("Grow did not move the stack (the runtime's starting stack may already exceed %d bytes)", Size)
	}
	if r.afterGrow != r.afterWork {
		t.Fatal("work within Size still grew the stack after Grow")
	}
}

// TestGrow_WithoutGrowWorkCopies is the control: the same work without
// Grow moves the stack, so the test above measures something.
func TestGrow_WithoutGrowWorkCopies(t *testing.T) {
	done := make(chan bool)
	go func() {
		var local int
		before := addr(&local)
		deep(Size/(1<<10) - 4)
		done <- addr(&local) != before
	}()
	if !<-done {
		t.Fatal("work of Size bytes did not move a fresh goroutine's stack")
	}
}
