package proxmox

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Options configure a [Client].
type Options struct {
	// Endpoint is the API base, https://host:8006, with or without the
	// /api2/json suffix. Plain http:// is allowed only for loopback hosts
	// (the simulator, a local reverse proxy).
	Endpoint string

	// Node is the Proxmox node name this client manages ("pve").
	Node string

	// Token authenticates every request. A token is never root@pam.
	Token Token

	// Exactly one TLS trust mode for https: CAFile (full verification
	// against that CA, e.g. /etc/pve/pve-root-ca.pem), Fingerprint (pin the
	// SHA-256 of the server's leaf certificate, in the colon-separated form
	// the node reports; any case, colons optional), or InsecureSkipVerify,
	// which New accepts only for a loopback endpoint (a local reverse
	// proxy, the simulator): anywhere else it would hand the token to
	// whoever answers.
	CAFile             string
	Fingerprint        string
	InsecureSkipVerify bool

	// Timeout bounds each HTTP request (default 30s).
	Timeout time.Duration

	// Concurrency is the maximum number of requests in flight (default 4):
	// pveproxy serves only a few at once.
	Concurrency int

	// Logf, if set, receives one debug line per request. It never sees
	// the token.
	Logf func(format string, args ...any)
}

// Client talks to the Proxmox VE HTTP API of one node with an API token.
// It never starts a process. It is safe for concurrent use.
type Client struct {
	base    string // https://host:8006/api2/json
	node    string
	token   Token
	hc      *http.Client
	sem     chan struct{}
	timeout time.Duration
	logf    func(format string, args ...any)

	// GET retry policy: attempts in total, and the first backoff (doubled
	// after each failure).
	attempts int
	backoff  time.Duration
}

// nodePattern is Proxmox's node-name format (pve-node).
var nodePattern = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)

// New checks the options and returns a Client. It makes no request.
func New(o Options) (*Client, error) {
	base, scheme, loopback, err := parseEndpoint(o.Endpoint)
	if err != nil {
		return nil, err
	}
	if o.InsecureSkipVerify && !loopback {
		return nil, errors.New("proxmox: InsecureSkipVerify is allowed only for a loopback endpoint; pin the node's certificate with Fingerprint or verify it with CAFile")
	}
	if !nodePattern.MatchString(o.Node) {
		return nil, fmt.Errorf("proxmox: node name %q is not a valid Proxmox node name", o.Node)
	}
	if o.Token.IsZero() {
		return nil, errors.New("proxmox: no API token")
	}
	if o.Timeout < 0 || o.Concurrency < 0 {
		return nil, errors.New("proxmox: Timeout and Concurrency must not be negative")
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	tr := &http.Transport{
		// The API is reached directly: an environment proxy would see
		// every request of a host-local tool.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
		MaxIdleConnsPerHost:   o.Concurrency,
		MaxConnsPerHost:       o.Concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
	}
	switch scheme {
	case "https":
		cfg, err := tlsConfig(o)
		if err != nil {
			return nil, fmt.Errorf("proxmox: %w", err)
		}
		tr.TLSClientConfig = cfg
	default:
		if o.CAFile != "" || o.Fingerprint != "" || o.InsecureSkipVerify {
			return nil, errors.New("proxmox: TLS options given for a plain http endpoint")
		}
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Client{
		base:     base,
		node:     o.Node,
		token:    o.Token,
		hc:       &http.Client{Transport: tr, CheckRedirect: noRedirect},
		sem:      make(chan struct{}, o.Concurrency),
		timeout:  o.Timeout,
		logf:     logf,
		attempts: 3,
		backoff:  250 * time.Millisecond,
	}, nil
}

// noRedirect stops the client from following redirects: the API never
// sends one, and a redirect must not carry the token elsewhere.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// parseEndpoint normalises the endpoint to scheme://host[:port]/api2/json.
// Its errors show at most the scheme and host: a token secret pasted into
// the endpoint by mistake (as user info, query, path or the whole value)
// is never quoted.
func parseEndpoint(s string) (base, scheme string, loopback bool, err error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		return "", "", false, fmt.Errorf("proxmox: endpoint is not a URL: %w", err)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", false, fmt.Errorf("proxmox: endpoint %s://%s: want https://host:8006, with no user info, query or fragment (the token goes in the token setting)", u.Scheme, u.Host)
	}
	if u.Host == "" {
		return "", "", false, errors.New("proxmox: endpoint has no host: want https://host:8006")
	}
	shown := u.Scheme + "://" + u.Host
	ip := net.ParseIP(u.Hostname())
	loopback = u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback {
			return "", "", false, fmt.Errorf("proxmox: endpoint %s: plain http is allowed only on loopback; use https", shown)
		}
	default:
		return "", "", false, fmt.Errorf("proxmox: endpoint %s: want an https:// URL", shown)
	}
	switch p := strings.TrimRight(u.Path, "/"); p {
	case "", "/api2/json":
	default:
		return "", "", false, fmt.Errorf("proxmox: endpoint %s: unexpected path (want none, or /api2/json)", shown)
	}
	return u.Scheme + "://" + u.Host + "/api2/json", u.Scheme, loopback, nil
}

// redactIn replaces the token's secret in b, as it is and as a JSON
// string would escape it, with REDACTED.
func (t Token) redactIn(b []byte) []byte {
	if t.secret == nil || *t.secret == "" {
		return b
	}
	quoted, _ := json.Marshal(*t.secret)
	for _, s := range [][]byte{[]byte(*t.secret), quoted[1 : len(quoted)-1]} {
		b = bytes.ReplaceAll(b, s, []byte("REDACTED"))
	}
	return b
}

// Node is the node name the client manages.
func (c *Client) Node() string { return c.node }

// String describes the client without its secret.
// CloseIdleConnections closes the connections the client keeps open
// between requests (a server shutting down waits for them otherwise).
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

func (c *Client) String() string {
	return fmt.Sprintf("proxmox.Client{%s node=%s token=%s}", c.base, c.node, c.token)
}

// envelope is every API response body.
type envelope struct {
	Data    json.RawMessage            `json:"data"`
	Total   *Int                       `json:"total"`
	Errors  map[string]json.RawMessage `json:"errors"`
	Message string                     `json:"message"`
}

// maxBody bounds a response body. The largest expected answer, the cluster
// resources of a big host, is well below it.
const maxBody = 64 << 20

// call performs one API request and decodes the envelope's data into out
// (unless out is nil). Parameters go in the query string for GET and DELETE
// and in a form body for POST and PUT. Only GET is retried. The client's
// timeout bounds the whole call, its retries included; when it passes,
// the error says what timed out and after how long.
func (c *Client) call(ctx context.Context, method, path string, params url.Values, out any) (*envelope, error) {
	env, err := c.callWithin(ctx, method, path, params, out)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, &TimeoutError{Method: method, Path: path, After: c.timeout, Err: err}
	}
	return env, err
}

// TimeoutError is a call that got no usable answer within the client's
// timeout.
type TimeoutError struct {
	Method, Path string
	After        time.Duration
	Err          error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s %s: no answer within %s (proxmox.timeout)", e.Method, e.Path, e.After)
}
func (e *TimeoutError) Unwrap() error { return e.Err }

func (c *Client) callWithin(ctx context.Context, method, path string, params url.Values, out any) (*envelope, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	attempts := 1
	if method == http.MethodGet {
		attempts = c.attempts
	}
	backoff := c.backoff
	var err error
	for attempt := 1; ; attempt++ {
		var env *envelope
		var retry bool
		env, retry, err = c.once(ctx, method, path, params)
		if err == nil {
			if out != nil && len(env.Data) > 0 {
				if derr := json.Unmarshal(env.Data, out); derr != nil {
					return nil, fmt.Errorf("%s %s: decode response: %w", method, path, derr)
				}
			}
			return env, nil
		}
		if !retry || attempt >= attempts || ctx.Err() != nil {
			return nil, err
		}
		c.logf("proxmox: %s %s: attempt %d failed, retrying in %s: %v", method, path, attempt, backoff, err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: %w (after: %v)", method, path, ctx.Err(), err)
		case <-t.C:
		}
		backoff *= 2
	}
}

// once performs one HTTP exchange under the concurrency bound. retry says
// whether the failure is transient.
func (c *Client) once(ctx context.Context, method, path string, params url.Values) (env *envelope, retry bool, err error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
	}
	defer func() { <-c.sem }()

	rctx := ctx // the call's deadline bounds every attempt together
	target := c.base + path
	var body io.Reader
	enc := params.Encode()
	switch {
	case method == http.MethodPost || method == http.MethodPut:
		body = strings.NewReader(enc)
	case enc != "":
		target += "?" + enc
	}
	req, err := http.NewRequestWithContext(rctx, method, target, body)
	if err != nil {
		return nil, false, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", c.token.authorization())
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.logf("proxmox: %s %s: %v", method, path, err)
		if method != http.MethodGet && !neverSent(err) {
			// Proxmox may have acted on it, and a POST is not repeated.
			return nil, false, fmt.Errorf("%s %s: %w (the request may have reached Proxmox: look for its task in the node's task list before repeating it)",
				method, path, unwrapURLError(err))
		}
		return nil, transientNetErr(ctx, err), fmt.Errorf("%s %s: %w", method, path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, transientNetErr(ctx, err), fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	// What the server sends back is printed (errors, task exit statuses
	// and logs): a server, or a proxy in front of it, that echoes the
	// token must not make us print its secret.
	resp.Status = string(c.token.redactIn([]byte(resp.Status)))
	raw = c.token.redactIn(raw)
	c.logf("proxmox: %s %s -> %s (%s)", method, path, resp.Status, time.Since(start).Round(time.Millisecond))

	env = &envelope{}
	if len(bytes.TrimSpace(raw)) > 0 {
		if jerr := json.Unmarshal(raw, env); jerr != nil && resp.StatusCode == http.StatusOK {
			return nil, false, fmt.Errorf("%s %s: response is not a JSON envelope: %w", method, path, jerr)
		}
	}
	if resp.StatusCode != http.StatusOK {
		apiErr := newAPIError(method, path, resp, env)
		return nil, transientAPIError(apiErr), apiErr
	}
	return env, false, nil
}

// newAPIError reads the error from the status line first and the 8.4
// "message" second: the message wins when it says more (the whole of a
// multi-line error), or when the reason phrase is missing or only the
// standard text for the code, as a reverse proxy in front of pveproxy may
// rewrite it.
func newAPIError(method, path string, resp *http.Response, env *envelope) *APIError {
	reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode)))
	msg := reason
	if full := strings.TrimSpace(env.Message); full != "" &&
		(reason == "" || reason == http.StatusText(resp.StatusCode) || strings.HasPrefix(full, reason)) {
		msg = full
	}
	e := &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: msg}
	if len(env.Errors) > 0 {
		e.ParamErrors = make(map[string]string, len(env.Errors))
		for k, v := range env.Errors {
			var s string
			if json.Unmarshal(v, &s) != nil {
				s = string(v)
			}
			e.ParamErrors[k] = s
		}
	}
	e.ACLPath, e.Privilege = parsePermission(msg)
	return e
}

// transientAPIError reports whether a refusal may go away if the GET is
// asked again: any 5xx (gateway errors, pveproxy's 595/596 for a proxied
// request whose target did not answer, a 500 from a daemon restarting),
// except two that asking again cannot change: 501, an unknown path or
// method, and the 500 of a missing guest.
func transientAPIError(e *APIError) bool {
	return e.Status >= 500 && e.Status != http.StatusNotImplemented && !notFoundPattern.MatchString(e.Message)
}

// transientNetErr: connection refused or reset, a dropped connection, or a
// per-request timeout while the caller's context is still alive.
// Certificate errors are not transient.
func transientNetErr(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isTransient reports whether a failed request may succeed if asked
// again: a transient status, or a transient network failure.
func isTransient(ctx context.Context, err error) bool {
	var api *APIError
	if errors.As(err, &api) {
		return transientAPIError(api)
	}
	return transientNetErr(ctx, err)
}

// neverSent reports whether a failed exchange certainly did not deliver
// the request: the connection was never made, or TLS refused the server.
func neverSent(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	var pin *FingerprintMismatchError
	var cert *tls.CertificateVerificationError
	return (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns) || errors.As(err, &pin) || errors.As(err, &cert)
}

// unwrapURLError drops url.Error's "Get \"https://...\"" prefix; the
// method and path are already in the message.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// nodePath joins the managed node's path with escaped segments.
func (c *Client) nodePath(segments ...string) string {
	return nodePathOf(c.node, segments...)
}

func nodePathOf(node string, segments ...string) string {
	var b strings.Builder
	b.WriteString("/nodes/")
	b.WriteString(url.PathEscape(node))
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}
