package runlog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	var b bytes.Buffer
	// Off a terminal: JSON lines at info, each with the run's id.
	log, err := New("", "", &b, false)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("run start", "cmd", "apply")
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["msg"] != "run start" || len(rec["run"].(string)) != 8 {
		t.Errorf("json record %q: %v", b.String(), err)
	}
	// On a terminal: text, and only warnings unless asked.
	b.Reset()
	log, _ = New("auto", "", &b, true)
	log.Info("hidden")
	log.Warn("shown")
	if got := b.String(); strings.Contains(got, "hidden") || !strings.HasPrefix(got, "time=") || !strings.Contains(got, "msg=shown") {
		t.Errorf("terminal text: %q", got)
	}
	if log, _ := New("text", "debug", &b, true); !log.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("--log-level debug is not honoured")
	}
	for _, c := range [][2]string{{"xml", ""}, {"", "verbose"}} {
		if _, err := New(c[0], c[1], &b, false); err == nil || !strings.Contains(err.Error(), "--log-") {
			t.Errorf("New(%q, %q): %v", c[0], c[1], err)
		}
	}
}
