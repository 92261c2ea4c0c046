package proxmox

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestServerTextEchoingTheSecretIsRedacted has the server echo the token
// (a proxy or a broken server might) in the status line, the message and
// the errors field: nothing the client returns or logs shows the secret.
func TestServerTextEchoingTheSecretIsRedacted(t *testing.T) {
	echo := "PVEAPIToken=felhom@pve!converge=" + testSecret
	s := newPVEServer(t, func(r recorded) reply {
		return reply{Status: 400, Reason: "bad token " + echo,
			Body: `{"data":null,"message":"bad token ` + echo + `\n","errors":{"token":"` + echo + `"}}`}
	})
	var logged strings.Builder
	c := newTestClient(t, s, func(o *Options) {
		o.Logf = func(format string, args ...any) { fmt.Fprintf(&logged, format+"\n", args...) }
	})
	_, err := c.Version(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	out := fmt.Sprintf("%v %+v %#v", err, err, err) + logged.String()
	if strings.Contains(out, testSecret) {
		t.Errorf("the secret is printed:\n%s", out)
	}
	if !strings.Contains(err.Error(), "felhom@pve!converge=REDACTED") {
		t.Errorf("error = %v, want the echo redacted", err)
	}
}
