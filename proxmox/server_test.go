package proxmox

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pveServer answers like pveproxy: the error text in the status line's
// reason phrase (which net/http's server cannot write, hence a raw TCP
// listener), Connection: close, JSON bodies.
type pveServer struct {
	t        *testing.T
	ln       net.Listener
	mu       sync.Mutex
	requests []recorded
	handle   func(r recorded) reply
	wg       sync.WaitGroup
}

// recorded is one request as the server saw it.
type recorded struct {
	Method string
	Path   string // below /api2/json
	Query  url.Values
	Form   url.Values
	Header http.Header
	Body   string
}

// reply is one response; Reason defaults to the standard text.
type reply struct {
	Status int
	Reason string
	Body   string
	Hang   <-chan struct{} // if set, wait for it before answering
}

func ok(body string) reply { return reply{Status: 200, Body: body} }

func newPVEServer(t *testing.T, handle func(r recorded) reply) *pveServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &pveServer{t: t, ln: ln, handle: handle}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *pveServer) URL() string { return "http://" + s.ln.Addr().String() }

func (s *pveServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			s.serveConn(conn)
		}()
	}
}

func (s *pveServer) serveConn(conn net.Conn) {
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		return
	}
	body, _ := io.ReadAll(req.Body)
	r := recorded{
		Method: req.Method,
		Path:   strings.TrimPrefix(req.URL.EscapedPath(), "/api2/json"),
		Query:  req.URL.Query(),
		Header: req.Header,
		Body:   string(body),
	}
	r.Form, _ = url.ParseQuery(string(body))
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
	rep := s.handle(r)
	if rep.Hang != nil {
		<-rep.Hang
	}
	if rep.Status == 0 {
		return // drop the connection without an answer
	}
	if rep.Reason == "" {
		rep.Reason = http.StatusText(rep.Status)
	}
	fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nServer: pve-api-daemon/3.0\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		rep.Status, rep.Reason, len(rep.Body), rep.Body)
}

func (s *pveServer) Requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.requests...)
}

// testToken is the token every test client uses; its secret must never
// show up in output.
const testSecret = "3f2a9c4e-0b7d-4e1a-9c55-d00df00dcafe"

func testToken(t *testing.T) Token {
	t.Helper()
	tok, err := ParseToken("felhom@pve!converge=" + testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// newTestClient returns a client on s with fast retries.
func newTestClient(t *testing.T, s *pveServer, mod ...func(*Options)) *Client {
	t.Helper()
	o := Options{Endpoint: s.URL(), Node: "pve", Token: testToken(t)}
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = 5 * time.Millisecond
	return c
}

// captured returns a captured response body from testdata.
func captured(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
