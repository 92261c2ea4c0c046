package proxmox

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// The routing fence: Client never starts a process, Privileged never
// opens a network connection. These tests hold it in place.

// (1) os/exec is not reachable from package proxmox, directly or through
// any dependency: only proxmox/hostexec may start processes.
func TestFenceNoExecInProxmox(t *testing.T) {
	// Directly, from the source: no non-test file imports os/exec or
	// hostexec, and the privileged code imports no network package.
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Nor the process-starting calls below os/exec.
		ast.Inspect(af, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && (x.Name == "os" || x.Name == "syscall") {
					switch sel.Sel.Name {
					case "StartProcess", "ForkExec", "Exec", "RawSyscall", "Syscall":
						t.Errorf("%s: %s.%s starts a process or makes raw system calls", fset.Position(sel.Pos()), x.Name, sel.Sel.Name)
					}
				}
			}
			return true
		})
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if p == "os/exec" || strings.HasSuffix(p, "/hostexec") {
				t.Errorf("%s imports %s", f, p)
			}
			if f == "privileged.go" && (p == "net" || strings.HasPrefix(p, "net/") || p == "crypto/tls") {
				t.Errorf("%s imports %s: Privileged must not reach the network", f, p)
			}
		}
	}
	// Transitively, as the go command resolves it.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || deps[len(deps)-1] != "github.com/felhom/felhom-converge/proxmox" {
		t.Fatalf("go list -deps gave an unexpected answer: %q", out)
	}
	for _, d := range deps {
		if d == "os/exec" || strings.HasSuffix(d, "/hostexec") {
			t.Errorf("package proxmox depends on %s", d)
		}
	}
}

// (1b) Nothing that Privileged can call in this package touches the network
// or the API client. From its methods and NewPrivileged, the call graph is
// followed by name (a function named where it is used, a method named where
// it is called: an over-approximation without types), and no function
// reached may use net, net/http or crypto/tls, or be a method of Client.
func TestFencePrivilegedCallGraph(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	type fn struct {
		decl    *ast.FuncDecl
		imports map[string]string // local import name -> path, in its file
	}
	funcs, methods := map[string][]fn{}, map[string][]fn{}
	var queue []fn
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		imports := map[string]string{}
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			name := filepath.Base(p)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			imports[name] = p
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			x := fn{fd, imports}
			if fd.Recv == nil {
				funcs[fd.Name.Name] = append(funcs[fd.Name.Name], x)
			} else {
				methods[fd.Name.Name] = append(methods[fd.Name.Name], x)
			}
			if recvType(fd) == "Privileged" || fd.Name.Name == "NewPrivileged" {
				queue = append(queue, x)
			}
		}
	}
	if len(queue) < 6 {
		t.Fatalf("found only %d entry points of Privileged", len(queue))
	}
	seen := map[*ast.FuncDecl]bool{}
	var reached []string
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		if seen[x.decl] {
			continue
		}
		seen[x.decl] = true
		name := x.decl.Name.Name
		if r := recvType(x.decl); r != "" {
			name = r + "." + name
			if r == "Client" {
				t.Errorf("Privileged can reach %s", name)
			}
		}
		reached = append(reached, name)
		if x.decl.Body == nil {
			continue
		}
		var visit func(n ast.Node) bool
		visit = func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); !ok || x.imports[id.Name] == "" {
						queue = append(queue, methods[sel.Sel.Name]...)
					}
				}
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok && x.imports[id.Name] != "" {
					switch p := x.imports[id.Name]; p {
					case "net", "net/http", "crypto/tls":
						t.Errorf("%s: %s uses %s.%s", fset.Position(n.Pos()), name, p, n.Sel.Name)
					}
					return false
				}
				ast.Inspect(n.X, visit) // not n.Sel: a field or method name
				return false
			case *ast.Ident:
				queue = append(queue, funcs[n.Name]...)
			}
			return true
		}
		ast.Inspect(x.decl.Body, visit)
	}
	t.Logf("reachable from Privileged: %s", strings.Join(reached, " "))
}

// recvType is the receiver's type name of a method, "" for a function.
func recvType(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return ""
	}
	typ := fd.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// typesReachable walks the types a struct type holds (fields, pointers,
// slices, maps; not through interfaces' dynamic values) and reports each
// named type with its package path.
func typesReachable(t reflect.Type, seen map[reflect.Type]bool, visit func(reflect.Type)) {
	if seen[t] {
		return
	}
	seen[t] = true
	visit(t)
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Chan:
		typesReachable(t.Elem(), seen, visit)
	case reflect.Map:
		typesReachable(t.Key(), seen, visit)
		typesReachable(t.Elem(), seen, visit)
	case reflect.Struct:
		for i := range t.NumField() {
			typesReachable(t.Field(i).Type, seen, visit)
		}
	}
}

// (2) Client starts no process: it holds nothing that can run a command,
// and a whole workload against a server leaves no child process behind.
func TestFenceClientStartsNoProcess(t *testing.T) {
	runner := reflect.TypeFor[Runner]()
	typesReachable(reflect.TypeFor[Client](), map[reflect.Type]bool{}, func(ty reflect.Type) {
		if ty.Kind() != reflect.Interface && (ty.Implements(runner) || reflect.PointerTo(ty).Implements(runner)) || ty == runner ||
			ty == reflect.TypeFor[Privileged]() || ty.PkgPath() == "os/exec" {
			t.Errorf("Client holds %v, which can start a process", ty)
		}
	})
	for _, o := range reflect.VisibleFields(reflect.TypeFor[Options]()) {
		if o.Type.Kind() == reflect.Interface {
			t.Errorf("Options.%s is an interface: it could carry a Runner", o.Name)
		}
	}

	// Behaviour: the children's resource usage counts every child process
	// this test binary ever waited for; a Client workload must not add to
	// it, and must leave no child running.
	before := childUsage(t)
	s, _ := taskServer(t, 1, "OK", []string{"TASK OK"})
	c := newTestClient(t, s)
	ctx := context.Background()
	upid, err := c.Start(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTask(ctx, upid, fastWait()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TaskLogTail(ctx, upid, 10); err != nil {
		t.Fatal(err)
	}
	if after := childUsage(t); after != before {
		t.Fatalf("child processes ran during the Client workload: rusage %+v -> %+v", before, after)
	}
	if kids := liveChildren(t); kids != "" {
		t.Fatalf("the Client left child processes: %s", kids)
	}
}

// childUsage sums the page faults and context switches of waited-for
// children: any process that ran adds to them.
func childUsage(t *testing.T) [3]int64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		t.Fatal(err)
	}
	return [3]int64{int64(ru.Minflt), int64(ru.Nvcsw) + int64(ru.Nivcsw), int64(ru.Utime.Usec) + int64(ru.Stime.Usec)}
}

// liveChildren lists this process's running children from /proc.
func liveChildren(t *testing.T) string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		kids = append(kids, strings.Fields(string(b))...)
	}
	return strings.Join(kids, " ")
}

// (3) Privileged opens no network connection: it holds nothing that can,
// and its operations succeed while the process's default transport and
// resolver fail the test on any use.
func TestFencePrivilegedNoNetwork(t *testing.T) {
	typesReachable(reflect.TypeFor[Privileged](), map[reflect.Type]bool{}, func(ty reflect.Type) {
		if p := ty.PkgPath(); p == "net" || strings.HasPrefix(p, "net/") || p == "crypto/tls" || ty == reflect.TypeFor[Client]() {
			t.Errorf("Privileged holds %v, which can reach the network", ty)
		}
	})

	dialed := errors.New("network use from Privileged")
	oldTransport, oldResolver := http.DefaultTransport, net.DefaultResolver
	http.DefaultTransport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("Privileged sent an HTTP request to %s", r.URL)
		return nil, dialed
	})
	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		t.Errorf("Privileged resolved a name via %s %s", network, address)
		return nil, dialed
	}}
	t.Cleanup(func() { http.DefaultTransport, net.DefaultResolver = oldTransport, oldResolver })

	b, err := os.ReadFile(filepath.Join("testdata", "sensors.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, r := newFakePrivileged(t, ModeSudo, map[string]func([]string) (string, string, int){
		"pct":     succeed,
		"findmnt": func([]string) (string, string, int) { return "", "", 1 },
		"mount":   succeed,
		"sensors": func([]string) (string, string, int) { return string(b), "", 0 },
		"smartctl": func([]string) (string, string, int) {
			return `{"device":{"name":"/dev/sda"},"smart_status":{"passed":true}}`, "", 0
		},
	})
	ctx := context.Background()
	if err := p.CreateGoldenLXC(ctx, GoldenLXC{VMID: 9000, Template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", Storage: "local-lvm"}); err != nil {
		t.Fatal(err)
	}
	if err := p.MountUSBByUUID(ctx, "1234-ABCD", "/mnt/usb"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SMART(ctx, "/dev/sda"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sensors(ctx); err != nil {
		t.Fatal(err)
	}
	if len(r.calls) != 5 {
		t.Fatalf("ran %d commands, want 5", len(r.calls))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
