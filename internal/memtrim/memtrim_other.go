//go:build !linux

package memtrim

import "errors"

func pageOutExecutable() (int, error) {
	return 0, errors.New("not supported on this operating system")
}
