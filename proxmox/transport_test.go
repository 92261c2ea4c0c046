package proxmox

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Idempotent GETs are retried on transient failures; nothing else is.
func TestRetries(t *testing.T) {
	cases := []struct {
		name      string
		first     reply // answer to the first request; later ones succeed
		call      func(*Client) error
		wantCalls int
		wantErr   bool
	}{
		{"GET retried after 503", reply{Status: 503, Reason: "Service Unavailable"},
			func(c *Client) error { _, err := c.Version(context.Background()); return err }, 2, false},
		{"GET retried after 595 (proxied node down)", reply{Status: 595, Reason: "Connection timed out"},
			func(c *Client) error { _, err := c.Nodes(context.Background()); return err }, 2, false},
		{"GET retried after a dropped connection", reply{Status: 0},
			func(c *Client) error { _, err := c.ListLXC(context.Background()); return err }, 2, false},
		{"GET retried after a 500", reply{Status: 500, Reason: "Internal Server Error", Body: `{"data":null}`},
			func(c *Client) error { _, err := c.GuestStatus(context.Background(), 100); return err }, 2, false},
		{"GET not retried after the 500 of a missing guest", reply{Status: 500, Reason: "Configuration file 'nodes/pve/lxc/100.conf' does not exist", Body: `{"data":null}`},
			func(c *Client) error { _, err := c.GuestConfig(context.Background(), 100); return err }, 1, true},
		{"GET not retried after 501 (unknown path)", reply{Status: 501, Reason: "Method 'GET /nodes/pve/lxc/100/pending' not implemented", Body: `{"data":null}`},
			func(c *Client) error { _, err := c.GuestPending(context.Background(), 100); return err }, 1, true},
		{"POST never retried after a 500", reply{Status: 500, Reason: "CT 100 already running", Body: `{"data":null}`},
			func(c *Client) error { _, err := c.Start(context.Background(), 100); return err }, 1, true},
		{"GET not retried after 403", reply{Status: 403, Reason: "Permission check failed (/nodes/pve, Sys.Audit)", Body: `{"data":null}`},
			func(c *Client) error { _, err := c.NodeStatus(context.Background()); return err }, 1, true},
		{"POST never retried, even after 503", reply{Status: 503, Reason: "Service Unavailable"},
			func(c *Client) error { _, err := c.Start(context.Background(), 100); return err }, 1, true},
		{"POST never retried after a dropped connection", reply{Status: 0},
			func(c *Client) error { _, err := c.Snapshot(context.Background(), 100, "pre", ""); return err }, 1, true},
		{"PUT never retried", reply{Status: 502, Reason: "Bad Gateway"},
			func(c *Client) error {
				return c.SetConfig(context.Background(), 100, map[string]string{"cores": "2"}, nil, "")
			}, 1, true},
		{"DELETE never retried", reply{Status: 504, Reason: "Gateway Timeout"},
			func(c *Client) error {
				_, err := c.DestroyLXC(context.Background(), 100, DestroyOptions{Purge: true})
				return err
			}, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			s := newPVEServer(t, func(r recorded) reply {
				if n.Add(1) == 1 {
					return tc.first
				}
				if r.Method == "GET" {
					return ok(`{"data":null}`)
				}
				return ok(`{"data":"` + testUPID + `"}`)
			})
			c := newTestClient(t, s)
			err := tc.call(c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got := int(n.Load()); got != tc.wantCalls {
				t.Fatalf("%d requests, want %d", got, tc.wantCalls)
			}
		})
	}
}

// A mutation whose connection failed after it was sent may have been
// carried out: its error says where to look. One that never connected
// says nothing of the kind.
func TestMutationOutcomeUnknownAfterSend(t *testing.T) {
	s := newPVEServer(t, func(recorded) reply { return reply{Status: 0} }) // read the request, then hang up
	c := newTestClient(t, s)
	_, err := c.Start(context.Background(), 100)
	if err == nil || !strings.Contains(err.Error(), "may have reached Proxmox") {
		t.Fatalf("err = %v, want a note that the start may have happened", err)
	}
	dead, err := New(Options{Endpoint: "http://127.0.0.1:1", Node: "pve", Token: testToken(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dead.Start(context.Background(), 100)
	if err == nil || strings.Contains(err.Error(), "may have reached") {
		t.Fatalf("err = %v: a refused connection delivered nothing", err)
	}
}

// A GET that keeps failing gives up after the configured attempts.
func TestRetryGivesUp(t *testing.T) {
	var n atomic.Int32
	s := newPVEServer(t, func(recorded) reply { n.Add(1); return reply{Status: 503} })
	c := newTestClient(t, s)
	_, err := c.Version(context.Background())
	var e *APIError
	if !errors.As(err, &e) || e.Status != 503 || n.Load() != int32(c.attempts) {
		t.Fatalf("err %v after %d requests", err, n.Load())
	}
}

// No more requests are in flight than Concurrency allows.
func TestConcurrencyBound(t *testing.T) {
	var inFlight, maxSeen atomic.Int32
	s := newPVEServer(t, func(recorded) reply {
		cur := inFlight.Add(1)
		for {
			m := maxSeen.Load()
			if cur <= m || maxSeen.CompareAndSwap(m, cur) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
		return ok(`{"data":{"vmid":100}}`)
	})
	c := newTestClient(t, s, func(o *Options) { o.Concurrency = 3 })
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.GuestStatus(context.Background(), 100); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if m := maxSeen.Load(); m != 3 {
		t.Fatalf("max in flight %d, want 3", m)
	}
}

// Timeout bounds a whole call once, retries included; the error says
// what timed out and after how long.
func TestRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var n atomic.Int32
	s := newPVEServer(t, func(recorded) reply { n.Add(1); return reply{Status: 200, Body: `{"data":null}`, Hang: release} })
	c := newTestClient(t, s, func(o *Options) { o.Timeout = 30 * time.Millisecond })
	_, err := c.Version(context.Background())
	var te *TimeoutError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &te) {
		t.Fatalf("err %v, want a *TimeoutError", err)
	}
	if want := "GET /version: no answer within 30ms (proxmox.timeout)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if n.Load() != 1 {
		t.Fatalf("%d attempts within one timeout, want 1", n.Load())
	}
}

// A token secret pasted into the endpoint by mistake is not quoted back.
func TestEndpointErrorsHideSecrets(t *testing.T) {
	for _, ep := range []string{
		"https://felhom@pve!converge:" + testSecret + "@pve:8006", // as user info
		"https://pve:8006/?token=" + testSecret,                   // as a query
		"https://pve:8006/felhom@pve!converge=" + testSecret,      // as a path
		"felhom@pve!converge=" + testSecret,                       // the token instead of the endpoint
		"https://pve:8006/\x7f" + testSecret + "\x00",             // a control character: url.Parse fails
		"https://pve:8006/\x00" + testSecret,
	} {
		_, err := New(Options{Endpoint: ep, Node: "pve", Token: testToken(t), Fingerprint: strings.Repeat("AB", 32)})
		if err == nil {
			t.Errorf("New accepted endpoint %q", ep)
			continue
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}

func TestEndpointAndOptions(t *testing.T) {
	tok := testToken(t)
	pin := strings.Repeat("AB", 32)
	cases := []struct {
		name     string
		o        Options
		wantBase string
		wantErr  string
	}{
		{"https with port", Options{Endpoint: "https://pve.example:8006", Fingerprint: pin}, "https://pve.example:8006/api2/json", ""},
		{"suffix already there", Options{Endpoint: "https://pve:8006/api2/json/", Fingerprint: pin}, "https://pve:8006/api2/json", ""},
		{"plain http on loopback", Options{Endpoint: "http://127.0.0.1:8006"}, "http://127.0.0.1:8006/api2/json", ""},
		{"plain http elsewhere", Options{Endpoint: "http://pve:8006"}, "", "only on loopback"},
		{"other path", Options{Endpoint: "https://pve:8006/api2/extjs", Fingerprint: pin}, "", "unexpected path"},
		{"credentials in the URL", Options{Endpoint: "https://u:p@pve:8006", Fingerprint: strings.Repeat("AB", 32)}, "", "no user info"},
		{"no TLS trust chosen", Options{Endpoint: "https://pve:8006"}, "", "exactly one"},
		{"two TLS trusts chosen", Options{Endpoint: "https://127.0.0.1:8006", InsecureSkipVerify: true, Fingerprint: pin}, "", "exactly one"},
		{"TLS option on http", Options{Endpoint: "http://127.0.0.1:8006", InsecureSkipVerify: true}, "", "plain http"},
		{"bad fingerprint", Options{Endpoint: "https://pve:8006", Fingerprint: "AB:CD"}, "", "not a SHA-256"},
		{"bad node", Options{Endpoint: "https://pve:8006", Fingerprint: pin, Node: "-x"}, "", "node name"},
		{"insecure on loopback", Options{Endpoint: "https://[::1]:8006", InsecureSkipVerify: true}, "https://[::1]:8006/api2/json", ""},
		{"insecure on localhost", Options{Endpoint: "https://localhost:8006", InsecureSkipVerify: true}, "https://localhost:8006/api2/json", ""},
		// Anywhere else it hands the token to whoever answers.
		{"insecure for a remote host", Options{Endpoint: "https://pve:8006", InsecureSkipVerify: true}, "", "only for a loopback endpoint"},
		{"insecure for a remote IP", Options{Endpoint: "https://192.0.2.10:8006", InsecureSkipVerify: true}, "", "only for a loopback endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Token = tok
			if tc.o.Node == "" {
				tc.o.Node = "pve"
			}
			c, err := New(tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.base != tc.wantBase {
				t.Fatalf("base %s, want %s", c.base, tc.wantBase)
			}
		})
	}
	if _, err := New(Options{Endpoint: "http://127.0.0.1:8006", Node: "pve"}); err == nil {
		t.Error("New accepted no token")
	}
}

// newCA returns a self-signed CA, like a node's pve-root-ca.
func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Proxmox Virtual Environment"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// newLeaf returns a certificate for the names "pve" and ips signed by the
// CA, like pve-ssl.pem.
func newLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, ips ...net.IP) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "pve"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: ips, DNSNames: []string{"pve"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer is an HTTPS API that answers /version with a certificate from
// its own CA for "pve" and ips, and returns the CA.
func tlsServer(t *testing.T, ips ...net.IP) (*httptest.Server, *x509.Certificate) {
	ca, caKey := newCA(t)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 {
			t.Errorf("request over %s, want HTTP/1.1", r.Proto)
		}
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Write([]byte(`{"data":{"version":"8.4.1","release":"8.4","repoid":"2a5fa54a8503f96d"}}`))
	}))
	s.EnableHTTP2 = true // the client must still speak HTTP/1.1
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{newLeaf(t, ca, caKey, ips...)}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s, ca
}

func TestTLSTrust(t *testing.T) {
	loopback := net.IPv4(127, 0, 0, 1)
	srv, srvCA := tlsServer(t, loopback)
	other, otherCA := tlsServer(t, loopback)
	// The right CA, but the certificate names only "pve", not 127.0.0.1.
	misnamed, misnamedCA := tlsServer(t)
	seen := Fingerprint(srv.Certificate().Raw)
	dir := t.TempDir()
	writeCA := func(name string, ca *x509.Certificate) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodCA, wrongCA := writeCA("good.pem", srvCA), writeCA("wrong.pem", otherCA)
	misnamedCAFile := writeCA("misnamed.pem", misnamedCA)
	lowerNoColons := strings.ToLower(strings.ReplaceAll(seen, ":", ""))

	cases := []struct {
		name    string
		o       Options
		wantErr bool
	}{
		{"pin matches (Proxmox form)", Options{Fingerprint: seen}, false},
		{"pin matches (lower case, no colons)", Options{Fingerprint: lowerNoColons}, false},
		{"pin of another certificate", Options{Fingerprint: Fingerprint(other.Certificate().Raw)}, true},
		{"CA verifies", Options{CAFile: goodCA}, false},
		{"wrong CA", Options{CAFile: wrongCA}, true},
		// CAFile is full verification: the name is checked too.
		{"right CA, certificate for another name", Options{Endpoint: misnamed.URL, CAFile: misnamedCAFile}, true},
		// A pin needs no name: it is the certificate itself.
		{"pin of a certificate for another name", Options{Endpoint: misnamed.URL, Fingerprint: Fingerprint(misnamed.Certificate().Raw)}, false},
		{"insecure, explicitly", Options{InsecureSkipVerify: true}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.Endpoint == "" {
				tc.o.Endpoint = srv.URL
			}
			tc.o.Node, tc.o.Token = "pve", testToken(t)
			c, err := New(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			v, err := c.Version(context.Background())
			if tc.wantErr {
				if err == nil {
					t.Fatal("connected to an untrusted server")
				}
				return
			}
			if err != nil || v.Version != "8.4.1" {
				t.Fatalf("Version = %+v, %v", v, err)
			}
		})
	}

	t.Run("pin rejection prints the fingerprint it saw", func(t *testing.T) {
		want := Fingerprint(other.Certificate().Raw)
		c, err := New(Options{Endpoint: srv.URL, Node: "pve", Token: testToken(t), Fingerprint: want})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Version(context.Background())
		var fe *FingerprintMismatchError
		if !errors.As(err, &fe) || fe.Seen != seen || fe.Want != want {
			t.Fatalf("err %v, want a FingerprintMismatchError", err)
		}
		if !strings.Contains(err.Error(), seen) {
			t.Fatalf("error %q does not print the seen fingerprint %s", err, seen)
		}
	})
}

func TestFingerprintFormat(t *testing.T) {
	// The format /nodes reports (captured): colon-separated upper-case hex.
	const real = "80:D4:F2:DF:64:95:CD:8D:A0:82:82:AC:48:BA:C0:7A:1B:6B:87:8B:FE:B9:83:1C:95:4E:79:58:77:99:69:F5"
	got, err := NormalizeFingerprint(strings.ToLower(strings.ReplaceAll(real, ":", "")))
	if err != nil || got != real {
		t.Fatalf("NormalizeFingerprint = %q, %v", got, err)
	}
}
