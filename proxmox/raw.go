package proxmox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// RawAnswer is an API answer as Proxmox gave it: the envelope's data and,
// for the lists that have one, its total.
type RawAnswer struct {
	Data  json.RawMessage
	Total *int
}

// Raw makes one API call as given: method, path below /api2/json (escaped
// as it must be sent, e.g. a UPID with url.PathEscape) and parameters. It
// is for the conformance run, which makes on purpose the calls the typed
// methods refuse (rootfs through the config, a restore with both unique
// and an interface) and looks at answers' raw shapes. Errors are the typed
// ones the other methods return; the token never appears in them.
func (c *Client) Raw(ctx context.Context, method, path string, params url.Values) (RawAnswer, error) {
	switch method {
	case "GET", "POST", "PUT", "DELETE":
	default:
		return RawAnswer{}, fmt.Errorf("raw call: method %q is not GET, POST, PUT or DELETE", method)
	}
	if !strings.HasPrefix(path, "/") || strings.Contains(path, "..") || strings.ContainsAny(path, "?#") {
		return RawAnswer{}, fmt.Errorf("raw call: %q is not an API path", path)
	}
	env, err := c.call(ctx, method, path, params, nil)
	if err != nil {
		return RawAnswer{}, err
	}
	a := RawAnswer{Data: env.Data}
	if env.Total != nil {
		n := int(*env.Total)
		a.Total = &n
	}
	return a, nil
}
