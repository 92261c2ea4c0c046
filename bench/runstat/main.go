// Command runstat runs a command and prints, on one line to stderr, its
// wall time, user and system CPU time and peak resident memory, read from
// the kernel's rusage of the child:
//
//	runstat CMD [ARGS...]   →   wall_s=0.412 user_s=0.120 sys_s=0.030 maxrss_kib=23456 exit=0
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: runstat CMD [ARGS...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "runstat:", err)
		os.Exit(2)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if ru == nil {
		ru = &syscall.Rusage{}
	}
	fmt.Fprintf(os.Stderr, "wall_s=%.3f user_s=%.3f sys_s=%.3f maxrss_kib=%d exit=%d\n",
		wall.Seconds(), tv(ru.Utime), tv(ru.Stime), ru.Maxrss, code)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
