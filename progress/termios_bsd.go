//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package progress

import "syscall"

// ioctlGetTermios reads a terminal's settings (tcgetattr).
const ioctlGetTermios = syscall.TIOCGETA
