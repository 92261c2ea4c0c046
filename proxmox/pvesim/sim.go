package pvesim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/rogpeppe/go-internal/lockedfile"
)

// Options configure a simulator. The zero value is a usable in-memory
// simulator of node "pve" with tasks that take 200ms.
type Options struct {
	// StatePath is the JSON file the state is loaded from and persisted to
	// after every change. Empty keeps the state in memory only. A missing
	// file is seeded with the default host (see the package comment).
	StatePath string
	// Node is the node name for a new state (default "pve"); a loaded
	// state keeps its own.
	Node string
	// Latency is added to every request, inside a worker slot.
	Latency time.Duration
	// Workers bounds how many requests are served at once, like
	// pveproxy's small worker pool. 0 means unbounded.
	Workers int
	// TaskDuration is how long every worker task runs (default 200ms;
	// negative means tasks finish at once).
	TaskDuration time.Duration
	// ExtraGuests seeds this many additional realistic guests (vmids
	// from 1000) into a new state.
	ExtraGuests int
	// EnableAdmin serves the fault-injection endpoints under /_sim/.
	EnableAdmin bool
	// ResourcesLag models pvestatd's RRD cache behind /cluster/resources:
	// a guest created less than this long ago is listed there with status
	// "unknown" and no name or stats, and a start or stop shows there only
	// this long after it happened, as on Proxmox (default 10s; negative:
	// no lag). GET /nodes/{node}/lxc and status/current never lag.
	ResourcesLag time.Duration
	// AuthFailureDelay delays 401 answers; Proxmox waits 3s. Default 0.
	AuthFailureDelay time.Duration
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// TaskListLag hides a task from GET /nodes/{node}/tasks for this long
	// after it started, as a loaded node can list a fresh worker late
	// (its active-task file is written after the fork). 0: no lag.
	TaskListLag time.Duration
	// PVEVersion is the Proxmox VE release the node runs: "8.4" or "9.1"
	// (or the full "9.1.1"; see PVEVersions). A new state is seeded with it
	// (default 8.4); a loaded state is switched to it and saved, as an
	// upgraded node would be. Empty keeps a loaded state's release.
	PVEVersion string
}

// Sim is a simulated Proxmox VE node. It is safe for concurrent use.
type Sim struct {
	opts  Options
	clock func() time.Time

	mu     sync.Mutex // guards st, seen and scheduled
	st     *state
	seen   os.FileInfo       // the state file as last read or written
	fileMu *lockedfile.Mutex // cross-process lock of the state file
	sched  map[string]bool   // UPIDs with a finishing goroutine here
	// unlisted holds, with Options.TaskListLag, when each fresh task
	// shows in the task list.
	unlisted map[string]time.Time
	cert     tls.Certificate
	leaf     []byte // DER of the certificate, for the fingerprint
	stop     chan struct{}
	tasks    sync.WaitGroup

	sem chan struct{} // worker slots; nil when unbounded

	faults faults

	srvMu sync.Mutex
	srv   *http.Server
	ln    net.Listener
}

// New loads (or seeds) the state and prepares a simulator. It does not
// listen; use Start, or serve Handler yourself.
func New(opts Options) (*Sim, error) {
	if opts.Node == "" {
		opts.Node = "pve"
	}
	if opts.PVEVersion != "" {
		if _, err := findRelease(opts.PVEVersion); err != nil {
			return nil, err
		}
	}
	if opts.TaskDuration == 0 {
		opts.TaskDuration = 200 * time.Millisecond
	}
	if opts.TaskDuration < 0 {
		opts.TaskDuration = 0
	}
	if opts.ResourcesLag == 0 {
		opts.ResourcesLag = 10 * time.Second
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	s := &Sim{opts: opts, clock: clock, stop: make(chan struct{}), sched: map[string]bool{}, unlisted: map[string]time.Time{}}
	if opts.StatePath != "" {
		s.fileMu = lockedfile.MutexAt(opts.StatePath + ".lock")
	}
	s.faults.init()
	if opts.Workers > 0 {
		s.sem = make(chan struct{}, opts.Workers)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := s.lockFileLocked()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.refreshLocked(); err != nil {
		return nil, err
	}
	if s.st == nil {
		if s.st, err = seedState(opts.Node, clock(), opts.ExtraGuests); err != nil {
			return nil, err
		}
		if err := s.newCertificate(); err != nil {
			return nil, err
		}
		if err := s.persistLocked(); err != nil {
			return nil, err
		}
	}
	if err := s.setReleaseLocked(opts.PVEVersion); err != nil {
		return nil, err
	}
	if err := s.loadCertificate(); err != nil {
		return nil, err
	}
	return s, nil
}

// lockFileLocked takes the cross-process lock of the state file, so that
// several processes sharing one state file (a CLI run with --sim while
// another waits for its journal lock, say) act on one host, one request
// at a time. The caller holds s.mu.
func (s *Sim) lockFileLocked() (func(), error) {
	if s.fileMu == nil {
		return func() {}, nil
	}
	unlock, err := s.fileMu.Lock()
	if err != nil {
		return nil, fmt.Errorf("lock simulator state: %w", err)
	}
	return unlock, nil
}

// refreshLocked reloads the state if another process has written the file
// since this one last read or wrote it. Tasks found running are scheduled
// to finish here too: whichever process gets there first finishes them,
// as a real worker would have while nobody was watching. The caller holds
// s.mu and the file lock.
func (s *Sim) refreshLocked() error {
	if s.opts.StatePath == "" {
		return nil
	}
	fi, err := os.Stat(s.opts.StatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("simulator state: %w", err)
	}
	if s.seen != nil && os.SameFile(fi, s.seen) && fi.ModTime().Equal(s.seen.ModTime()) && fi.Size() == s.seen.Size() {
		return nil
	}
	st, err := loadState(s.opts.StatePath)
	if err != nil || st == nil {
		return err
	}
	s.st, s.seen = st, fi
	for _, t := range st.Tasks {
		if t.Status == "running" {
			s.scheduleLocked(t.UPID)
		}
	}
	return nil
}

// Node is the simulated node's name.
func (s *Sim) Node() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Node
}

// Token returns the full API token "USER@REALM!TOKENID=SECRET" of a seeded
// token ("converge" or "readonly"), or "" if there is none by that name.
func (s *Sim) Token(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.st.Tokens {
		if _, tok, _ := strings.Cut(id, "!"); tok == name {
			return id + "=" + t.Secret
		}
	}
	return ""
}

// Fingerprint is the SHA-256 fingerprint of the TLS certificate as Proxmox
// prints it: upper-case hex pairs joined by colons.
func (s *Sim) Fingerprint() string { return proxmox.Fingerprint(s.leaf) }

// Start listens on a loopback address ("127.0.0.1:0" picks a free port)
// and serves HTTP/1.1, over TLS with the state's self-signed certificate
// when useTLS is set. It returns the endpoint, e.g. "https://127.0.0.1:8006".
func (s *Sim) Start(listen string, useTLS bool) (string, error) {
	if err := checkLoopback(listen); err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("simulator listen: %w", err)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// An empty, non-nil map turns HTTP/2 off: pveproxy speaks HTTP/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		// A client that closes a spare connection before its handshake
		// ends is no error of the server's; anything else is logged.
		ErrorLog: log.New(handshakeFilter{os.Stderr}, "", log.LstdFlags),
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	s.srvMu.Lock()
	if s.srv != nil {
		s.srvMu.Unlock()
		ln.Close()
		return "", errors.New("simulator already started")
	}
	s.srv, s.ln = srv, ln
	s.srvMu.Unlock()
	go srv.Serve(ln) //nolint:errcheck // Serve returns ErrServerClosed on Close
	return scheme + "://" + ln.Addr().String(), nil
}

// ErrNotLoopback is the refusal of a listen address that is not loopback.
var ErrNotLoopback = errors.New("not a loopback address")

// checkLoopback refuses listen addresses that are not loopback: the
// simulator's tokens are throwaway secrets, not meant for a network.
func checkLoopback(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("simulator listen address %q: %w", listen, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("simulator listen address %q is %w (use 127.0.0.1 or [::1])", listen, ErrNotLoopback)
	}
	return nil
}

// Close stops serving, releases held responses and stops the task timers.
// Tasks still running stay "running" in the persisted state and finish
// when the state is loaded again.
func (s *Sim) Close() error {
	s.faults.releaseAll()
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	s.srvMu.Lock()
	srv := s.srv
	s.srvMu.Unlock()
	var err error
	if srv != nil {
		// Let answers in flight finish; a client's spare connection that
		// never sent a request would hold Shutdown for seconds, so close
		// whatever is left after a moment.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if serr := srv.Shutdown(ctx); serr != nil {
			err = srv.Close()
		}
	}
	// Every change was saved when it was made; nothing is left to write.
	s.tasks.Wait()
	return err
}

// persistLocked writes the state if a state file is configured. The
// caller holds s.mu and the file lock.
func (s *Sim) persistLocked() error {
	if s.opts.StatePath == "" {
		return nil
	}
	prev := s.seen
	if err := saveState(s.opts.StatePath, s.st); err != nil {
		return err
	}
	fi, err := os.Stat(s.opts.StatePath)
	if err != nil {
		return fmt.Errorf("simulator state: %w", err)
	}
	// Other processes reload when the file's identity, size or time
	// differs from what they saw (refreshLocked). Time stamps are coarse
	// (a clock tick) and a replaced file's inode may be reused, so each
	// version is stamped strictly later than the one it replaced; the file
	// lock is still held, so nobody sees the version in between.
	if prev != nil && !fi.ModTime().After(prev.ModTime()) {
		later := prev.ModTime().Add(time.Microsecond)
		if err := os.Chtimes(s.opts.StatePath, later, later); err != nil {
			return fmt.Errorf("simulator state: %w", err)
		}
		if fi, err = os.Stat(s.opts.StatePath); err != nil {
			return fmt.Errorf("simulator state: %w", err)
		}
	}
	s.seen = fi
	return nil
}

func (s *Sim) newCertificate() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("simulator certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return fmt.Errorf("simulator certificate serial: %w", err)
	}
	now := s.clock()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: s.st.Node + ".localdomain", Organization: []string{"PVE Cluster Node"}, OrganizationalUnit: []string{"PVE Cluster Node"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", s.st.Node, s.st.Node + ".localdomain"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("simulator certificate: %w", err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("simulator certificate key: %w", err)
	}
	s.st.CertPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	s.st.KeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	return nil
}

func (s *Sim) loadCertificate() error {
	cert, err := tls.X509KeyPair([]byte(s.st.CertPEM), []byte(s.st.KeyPEM))
	if err != nil {
		return fmt.Errorf("simulator certificate from state: %w", err)
	}
	s.cert = cert
	s.leaf = cert.Certificate[0]
	return nil
}

// handshakeFilter drops net/http's "TLS handshake error" lines.
type handshakeFilter struct{ w io.Writer }

func (f handshakeFilter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		return len(p), nil
	}
	return f.w.Write(p)
}
