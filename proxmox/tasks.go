package proxmox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TaskStatusOnce is GET /nodes/{node}/tasks/{upid}/status, asked of the
// node that runs the task.
func (c *Client) TaskStatusOnce(ctx context.Context, upid UPID) (TaskStatus, error) {
	var s TaskStatus
	_, err := c.call(ctx, "GET", nodePathOf(upid.Node, "tasks", upid.String(), "status"), nil, &s)
	return s, err
}

// logLine is one entry of the task log.
type logLine struct {
	N Int    `json:"n"`
	T string `json:"t"`
}

// TaskLogTail returns the last n lines of a task's log (all lines when n
// <= 0). Proxmox numbers lines from 1, takes start as the count of lines to
// skip, and reads limit=0 as "all".
func (c *Client) TaskLogTail(ctx context.Context, upid UPID, n int) ([]string, error) {
	path := nodePathOf(upid.Node, "tasks", upid.String(), "log")
	start := 0
	if n > 0 {
		env, err := c.call(ctx, "GET", path, url.Values{"start": {"0"}, "limit": {"1"}}, nil)
		if err != nil {
			return nil, err
		}
		if env.Total != nil && int(*env.Total) > n {
			start = int(*env.Total) - n
		}
	} else {
		n = 0
	}
	var lines []logLine
	q := url.Values{"start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(n)}}
	if _, err := c.call(ctx, "GET", path, q, &lines); err != nil {
		return nil, err
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.T
	}
	return out, nil
}

// WaitOptions configure WaitTask.
type WaitOptions struct {
	// Timeout bounds the wait (0: only the context bounds it). The task
	// keeps running on the host when the wait gives up.
	Timeout time.Duration
	// Progress, if set, is called with every status polled.
	Progress func(TaskStatus)
	// LogLines is how many log lines to attach to a TaskError (default
	// 20; negative: none).
	LogLines int
	// MinInterval and MaxInterval bound the polling backoff (defaults
	// 100ms, doubling to 2s).
	MinInterval, MaxInterval time.Duration
	// MaxPollOutage is how long the status polls may keep failing
	// transiently (connection refused or reset, a timeout, a 5xx other
	// than a missing guest's: pveproxy restarting during a long task)
	// before WaitTask gives up
	// (default 2m). A poll Proxmox refuses outright ends the wait at once.
	MaxPollOutage time.Duration
}

// WaitTask polls a task until it stops. It returns nil only when the exit
// status is "OK"; a *TaskWarnings when it is "WARNINGS: N" (a success the
// caller may report); a *TaskError for any other exit status. A status poll
// that fails transiently is retried with the same backoff, for up to
// MaxPollOutage. If the timeout passes or ctx ends first, the error wraps
// context.DeadlineExceeded or the context's error. Every error other than
// *TaskError means the outcome is unknown: the task may still be running.
func (c *Client) WaitTask(ctx context.Context, upid UPID, o WaitOptions) error {
	if o.MinInterval <= 0 {
		o.MinInterval = 100 * time.Millisecond
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = 2 * time.Second
	}
	o.MaxInterval = max(o.MaxInterval, o.MinInterval)
	if o.LogLines == 0 {
		o.LogLines = 20
	}
	if o.MaxPollOutage <= 0 {
		o.MaxPollOutage = 2 * time.Minute
	}
	wctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	interval := o.MinInterval
	var failingSince time.Time
	for {
		st, err := c.TaskStatusOnce(wctx, upid)
		switch {
		case err != nil && wctx.Err() != nil:
			return waitGaveUp(ctx, upid, o.Timeout, wctx.Err())
		case err != nil && !isTransient(wctx, err):
			return fmt.Errorf("wait for task %s: read its status (the task may still be running): %w", upid, err)
		case err != nil:
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if d := time.Since(failingSince); d >= o.MaxPollOutage {
				return fmt.Errorf("wait for task %s: its status was unreadable for %s (the task may still be running): %w",
					upid, d.Round(time.Millisecond), err)
			}
			c.logf("proxmox: wait for task %s: status poll failed, polling on: %v", upid, err)
		default:
			failingSince = time.Time{}
			if o.Progress != nil {
				o.Progress(st)
			}
			switch st.Status {
			case "running":
			case "stopped":
				return c.taskOutcome(ctx, upid, st, o.LogLines)
			default:
				return fmt.Errorf("wait for task %s: unexpected task status %q (the task may still be running)", upid, st.Status)
			}
		}
		t := time.NewTimer(interval)
		select {
		case <-wctx.Done():
			t.Stop()
			return waitGaveUp(ctx, upid, o.Timeout, wctx.Err())
		case <-t.C:
		}
		interval = min(2*interval, o.MaxInterval)
	}
}

func waitGaveUp(ctx context.Context, upid UPID, timeout time.Duration, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("wait for task %s: still running after %s: %w", upid, timeout, err)
	}
	return fmt.Errorf("wait for task %s (the task may still be running): %w", upid, err)
}

// taskOutcome turns a stopped task's exit status into WaitTask's result.
func (c *Client) taskOutcome(ctx context.Context, upid UPID, st TaskStatus, logLines int) error {
	if st.ExitStatus == "OK" {
		return nil
	}
	var log []string
	if logLines > 0 {
		// Best effort: the outcome stands even if the log is unreadable.
		log, _ = c.TaskLogTail(ctx, upid, logLines)
	}
	if n, ok := st.Warnings(); ok {
		var warn []string
		for _, l := range log {
			if strings.HasPrefix(l, "WARN: ") {
				warn = append(warn, l)
			}
		}
		return &TaskWarnings{UPID: upid, Count: n, Log: warn}
	}
	e := &TaskError{UPID: upid, ExitStatus: st.ExitStatus, Log: log}
	if e.ExitStatus == "" {
		e.ExitStatus = "stopped without an exit status"
	}
	e.ACLPath, e.Privilege = parsePermission(st.ExitStatus)
	return e
}
