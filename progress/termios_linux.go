package progress

import "syscall"

// ioctlGetTermios reads a terminal's settings (tcgetattr).
const ioctlGetTermios = syscall.TCGETS
