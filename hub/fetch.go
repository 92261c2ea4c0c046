package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/felhom/felhom-converge/printable"
	"github.com/felhom/felhom-converge/proxmox"
)

var errNotExist = fs.ErrNotExist

// redacted replaces a secret in anything printed or stored.
const redacted = "[redacted]"

// client is one pull's connection settings: the checked options and URL.
type client struct {
	o       Options
	url     *url.URL
	secrets []string // longest first, so that one secret inside another goes whole
}

// prepare checks o and returns the client for it.
func prepare(o Options) (*client, error) {
	c := &client{o: o}
	if o.Token.IsSet() {
		c.secrets = append(c.secrets, o.Token.Reveal())
	}
	for _, s := range o.Secrets {
		if s.IsSet() {
			c.secrets = append(c.secrets, s.Reveal())
		}
	}
	slices.SortFunc(c.secrets, func(a, b string) int { return len(b) - len(a) })
	u, err := c.parseURL(o.URL)
	if err != nil {
		return nil, err
	}
	c.url = u
	if o.Host == "" {
		return nil, errors.New("pull: the local host name is not set")
	}
	if o.Token.IsSet() && strings.ContainsFunc(o.Token.Reveal(), func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("pull: the hub token contains whitespace or control characters")
	}
	if o.Timeout < 0 {
		return nil, errors.New("pull: the timeout must not be negative")
	}
	if _, err := c.tlsConfig(u.Scheme); err != nil {
		return nil, err
	}
	return c, nil
}

// clean makes text that may come from the hub fit to print and store:
// every secret replaced, control characters escaped.
func (c *client) clean(s string) string {
	for _, secret := range c.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return printable.Escape(s)
}

// shown is u as errors print it: scheme://host/path, no user info, no
// query (which may hold a secret), cleaned.
func (c *client) shown(u *url.URL) string {
	return c.clean(u.Scheme + "://" + u.Host + u.EscapedPath())
}

// fail makes a FetchError for u whose message is cleaned.
func (c *client) fail(u *url.URL, reason Reason, err error, format string, args ...any) *FetchError {
	return &FetchError{URL: c.shown(u), Reason: reason, Msg: c.clean(fmt.Sprintf(format, args...)), Err: err}
}

// answer is a complete 200 answer, or a 304.
type answer struct {
	notModified bool
	body        []byte
	etag        string // valid and free of secrets; "" otherwise
}

// get fetches u, sending etag as If-None-Match when set, and returns the
// complete body of a 200 (at most max bytes), or notModified for a 304 to
// that ETag. what names the body in messages ("file", "bundle").
func (c *client) get(ctx context.Context, u *url.URL, etag string, max int64, what string) (answer, *FetchError) {
	var closedByPeer atomic.Bool
	hc, err := c.httpClient(&closedByPeer)
	if err != nil {
		return answer{}, c.fail(u, Unreachable, err, "%v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return answer{}, c.fail(u, Unreachable, nil, "%v", transportError(err))
	}
	req.Header.Set("Accept", "text/plain, application/octet-stream;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", "felhom-converge")
	if c.o.Token.IsSet() {
		req.Header.Set("Authorization", "Bearer "+c.o.Token.Reveal())
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := hc.Do(req)
	if err != nil {
		var pin *proxmox.FingerprintMismatchError
		var unknownCA x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		var hostname x509.HostnameError
		switch {
		case ctx.Err() != nil:
			return answer{}, c.fail(u, Interrupted, ctx.Err(), "interrupted")
		case errors.As(err, &pin):
			return answer{}, c.fail(u, PinMismatch, err, "the hub's certificate fingerprint %s does not match the pinned %s (if the hub's certificate was renewed, update the pin)", pin.Seen, pin.Want)
		case errors.As(err, &unknownCA), errors.As(err, &invalid), errors.As(err, &hostname):
			return answer{}, c.fail(u, Unreachable, nil, "the hub answered, but its certificate is not trusted (%v): pass --ca-file with the CA that signed it, or pin it with --fingerprint", transportError(err))
		}
		return answer{}, c.fail(u, Unreachable, nil, "hub unreachable: %v", transportError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return answer{notModified: true, etag: etag}, nil
	case resp.StatusCode != http.StatusOK:
		return answer{}, c.fail(u, HTTPStatus, nil, "hub answered %s", c.statusText(resp))
	}
	if resp.ContentLength > max {
		return answer{}, c.fail(u, TooLarge, nil, "the hub's %s is %d bytes, over the %d-byte (%s) bound", what, resp.ContentLength, max, mib(max))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	switch {
	case ctx.Err() != nil:
		return answer{}, c.fail(u, Interrupted, ctx.Err(), "interrupted")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return answer{}, c.fail(u, Truncated, nil, "the hub's answer was cut short (%d bytes read): %v", len(body), err)
	case err != nil:
		return answer{}, c.fail(u, Unreachable, nil, "reading the hub's answer: %v", transportError(err))
	case int64(len(body)) > max:
		return answer{}, c.fail(u, TooLarge, nil, "the hub's %s is over the %d-byte (%s) bound", what, max, mib(max))
	}
	// A body that only the connection's end delimits is whole only when
	// TLS said so (close_notify) before the connection closed.
	if resp.ContentLength < 0 && !slices.Contains(resp.TransferEncoding, "chunked") {
		switch {
		case u.Scheme != "https":
			return answer{}, c.fail(u, Truncated, nil, "the hub's answer has neither a Content-Length nor chunked encoding: over plain http a cut answer cannot be told from a whole one")
		case closedByPeer.Load():
			return answer{}, c.fail(u, Truncated, nil, "the hub's answer ended without a TLS close_notify (%d bytes read): it may be cut short", len(body))
		}
	}
	a := answer{body: body, etag: validETag(resp.Header.Get("ETag"))}
	if c.clean(a.etag) != a.etag {
		a.etag = "" // it held a secret: never stored, printed or sent back
	}
	return a, nil
}

func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }

// httpClient is a client for one request. closedByPeer is set when the
// connection's peer closed it (the raw connection read EOF).
func (c *client) httpClient(closedByPeer *atomic.Bool) (*http.Client, error) {
	timeout := c.o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	cfg, err := c.tlsConfig(c.url.Scheme)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		// A fleet behind a proxy reaches its hub through HTTPS_PROXY;
		// loopback hubs are never proxied.
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return eofConn{Conn: conn, eof: closedByPeer}, nil
		},
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableKeepAlives:     true, // one request per client
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A redirect could carry the token elsewhere; the URL must name
		// the file itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// eofConn records that its peer closed the connection. Over TLS, the
// reader sees EOF from the raw connection only when the stream ended
// without a close_notify: after one, TLS reads nothing more.
type eofConn struct {
	net.Conn
	eof *atomic.Bool
}

func (c eofConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, io.EOF) {
		c.eof.Store(true)
	}
	return n, err
}

func (c *client) tlsConfig(scheme string) (*tls.Config, error) {
	o := c.o
	switch {
	case scheme == "http":
		if o.CAFile != "" || o.Fingerprint != "" {
			return nil, errors.New("pull: --ca-file and --fingerprint need an https:// hub URL")
		}
		return nil, nil
	case o.CAFile != "" && o.Fingerprint != "":
		return nil, errors.New("pull: give at most one of --ca-file and --fingerprint for the hub")
	case o.CAFile != "" || o.Fingerprint != "":
		cfg, err := proxmox.TLSClientConfig(o.CAFile, o.Fingerprint, false)
		if err != nil {
			return nil, fmt.Errorf("pull: hub TLS: %w", err)
		}
		return cfg, nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}, nil
}

// NoURLError is a pull given no hub URL, neither as its argument nor in
// FELHOM_CONVERGE_HUB_URL.
type NoURLError struct{}

func (NoURLError) Error() string {
	return "pull: no hub URL: give it as the argument or in FELHOM_CONVERGE_HUB_URL"
}

// Hint says where the service's URL comes from.
func (NoURLError) Hint() string {
	return "the service reads FELHOM_CONVERGE_HUB_URL from /etc/felhom-converge/hub.env " +
		"(docs/operating.md, Install, 4. The desired state); without that file it applies the desired file in place"
}

// parseURL checks a hub URL.
func (c *client) parseURL(s string) (*url.URL, error) {
	if strings.TrimSpace(s) == "" {
		return nil, NoURLError{}
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		return nil, fmt.Errorf("pull: the hub URL is not a URL: %s", c.clean(err.Error()))
	}
	shown := c.shown(u)
	switch {
	case u.Host == "":
		return nil, errors.New("pull: the hub URL has no host: want https://HOST/PATH")
	case u.User != nil:
		return nil, fmt.Errorf("pull: hub URL %s: user info is not allowed (give a token with --token-file, FELHOM_CONVERGE_HUB_TOKEN or the hub-token credential)", c.clean(u.Scheme+"://"+u.Host))
	case u.Scheme == "https":
	case u.Scheme == "http":
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("pull: hub URL %s: plain http is allowed only on loopback; use https", shown)
		}
	default:
		return nil, fmt.Errorf("pull: hub URL %s: want an https:// URL", shown)
	}
	u.Fragment = ""
	return u, nil
}

// transportError drops the *url.Error wrapper, which quotes the whole URL
// (query included); the caller names the URL in its redacted form.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}

// statusText is "503 Service Unavailable", with the start of a text body
// when there is one. The caller cleans it (fail does).
func (c *client) statusText(resp *http.Response) string {
	s := resp.Status
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return s + " (redirects are not followed: give the file's final URL)"
	}
	// Read enough that a secret at the edge of the excerpt is still whole
	// when it is redacted, and cut after.
	limit := 200
	for _, secret := range c.secrets {
		limit = max(limit, 200+len(secret))
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, int64(limit)))
	msg := oneLine(c.clean(strings.TrimSpace(string(b))))
	if msg == "" {
		return s
	}
	if len(msg) > 120 {
		cut := 120
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	return s + ": " + msg
}

// validETag keeps an ETag only in the RFC 9110 form (W/"..." or "..."),
// printable ASCII and bounded, since it is sent back as a header.
func validETag(s string) string {
	t := strings.TrimPrefix(s, "W/")
	if len(s) > 256 || len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
		return ""
	}
	for _, b := range []byte(t[1 : len(t)-1]) {
		if b <= ' ' || b == '"' || b >= 0x7f {
			return ""
		}
	}
	return s
}
