package trust

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/humanize"
	"github.com/felhom/felhom-converge/printable"
)

// Signing a bundle on the operator's workstation: each request is shown as
// it says itself, the operator is asked, and the accepted ones are signed
// by a Keygen (the stock ssh-keygen -Y sign, run by the command; package
// trust executes nothing).

// Prompter asks the operator a yes-or-no question.
type Prompter interface {
	Ask(prompt string) (bool, error)
}

// PromptFunc is a Prompter of a func.
type PromptFunc func(prompt string) (bool, error)

// Ask calls f.
func (f PromptFunc) Ask(prompt string) (bool, error) { return f(prompt) }

// Keygen signs files in a namespace, writing FILE.sig beside each FILE, as
// the stock 'ssh-keygen -Y sign -n NAMESPACE -f KEY FILE...' does.
type Keygen interface {
	Sign(namespace string, files []string) error
}

// KeygenFunc is a Keygen of a func.
type KeygenFunc func(namespace string, files []string) error

// Sign calls f.
func (f KeygenFunc) Sign(namespace string, files []string) error { return f(namespace, files) }

// SignOptions are how SignBundle shows, asks and signs.
type SignOptions struct {
	Show   io.Writer // each request as it says itself, and what became of it
	Ask    Prompter
	Keygen Keygen
	Now    time.Time
	// Role is the namespace to sign in: RoleOperational (the default when
	// empty), or RoleRecovery for a recovery key, which may sign only
	// signers.rotate; SignBundle skips every other request then.
	Role string
}

// SignResult counts the requests signed and those that could not be.
type SignResult struct{ Signed, Failed int }

// SignBundle shows each unsigned request of b, asks, and signs the ones
// accepted in o.Role's namespace (one ssh-keygen run, so a key with a
// passphrase asks once). It fills in the entries' Sig.
func SignBundle(b *Bundle, o SignOptions) (SignResult, error) {
	var res SignResult
	if o.Role == "" {
		o.Role = RoleOperational
	}
	var chosen []int // entry indexes
	for i, e := range b.Entries {
		name := QuoteName(e.Name)
		r, err := ParseRequest(e.Req)
		switch {
		case err != nil:
			fmt.Fprintf(o.Show, "%s: not a request, not signed: %v\n", name, err)
			res.Failed++
			continue
		case e.Signed():
			fmt.Fprintf(o.Show, "%s: signed already; kept\n", name)
			continue
		case !o.Now.Before(r.NotAfter):
			fmt.Fprintf(o.Show, "%s: expired %s, not signed (the host writes a new request)\n", name, r.NotAfter.UTC().Format(time.RFC3339))
			continue
		case !roleAllows(o.Role, r.Op):
			fmt.Fprintf(o.Show, "%s: %s, not signed: %s may sign only %s (sign it with an operational key)\n", name, r.Op, o.Role, roleOps(o.Role))
			continue
		}
		fmt.Fprint(o.Show, DescribeRequest(e, r, o.Now, o.Role))
		ok, err := o.Ask.Ask(fmt.Sprintf("Sign %s%s on %s? [y/N] ", r.Op, humanize.GuestLabel(r.Guest, ""), r.Host))
		if err != nil {
			return res, err
		}
		if ok {
			chosen = append(chosen, i)
		}
	}
	if len(chosen) == 0 {
		return res, nil
	}
	sigs, err := signEntries(b, chosen, o.Role, o.Keygen)
	if err != nil {
		return res, err
	}
	for k, i := range chosen {
		b.Entries[i].Sig = sigs[k]
		res.Signed++
	}
	return res, nil
}

// DescribeRequest shows a request as its own statement says it, and the
// host's header only as what the host says; role is the namespace it is
// signed in.
func DescribeRequest(e BundleEntry, r Request, now time.Time, role string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "\n%s\n", QuoteName(e.Name))
	fmt.Fprintf(&s, "  host:      %s\n", r.Host)
	fmt.Fprintf(&s, "  op:        %s\n", r.Op)
	fmt.Fprintf(&s, "  guest:     %s\n", humanize.GuestText(r.Guest, ""))
	fmt.Fprintf(&s, "  loses:     %s\n", printable.Escape(LossOf(r.Op, r.Params)))
	fmt.Fprintf(&s, "  params:    %s\n", printable.Escape(string(r.Params)))
	fmt.Fprintf(&s, "  valid:     until %s (%s left)\n", r.NotAfter.UTC().Format(time.RFC3339),
		strings.TrimSuffix(r.NotAfter.Sub(now).Round(time.Minute).String(), "0s"))
	fmt.Fprintf(&s, "  namespace: %s\n", role)
	var notes []string
	for _, h := range e.Header {
		// What the request says is shown above, from the request.
		if key, _, _ := strings.Cut(h, ":"); !derivedNote[key] {
			notes = append(notes, "    "+printable.Escape(h)+"\n")
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(&s, "  the host's notes (not signed):\n%s", strings.Join(notes, ""))
	}
	return s.String()
}

// derivedNote are the header keys 'signatures pending' writes whose
// content sign shows from the request itself.
var derivedNote = map[string]bool{"host": true, "op": true, "loses": true, "sign": true}

// signEntries writes the entries' requests into a private temporary
// directory under their names, signs them in one keygen run, and returns
// the signatures in order, each checked to be an SSHSIG in namespace.
func signEntries(b *Bundle, idx []int, namespace string, keygen Keygen) ([][]byte, error) {
	dir, err := os.MkdirTemp("", "felhom-sign-")
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	defer os.RemoveAll(dir)
	files := make([]string, len(idx))
	for k, i := range idx {
		files[k] = filepath.Join(dir, b.Entries[i].Name)
		if err := os.WriteFile(files[k], b.Entries[i].Req, 0o600); err != nil {
			return nil, fmt.Errorf("sign: %w", err)
		}
	}
	if err := keygen.Sign(namespace, files); err != nil {
		return nil, fmt.Errorf("sign: %w; nothing was written", err)
	}
	sigs := make([][]byte, len(files))
	for k, f := range files {
		sig, err := ReadRegular(f+".sig", MaxSignatureSize)
		if err != nil {
			return nil, fmt.Errorf("sign: ssh-keygen wrote no signature for %s: %w", filepath.Base(f), err)
		}
		parsed, err := ParseSignature(sig)
		if err != nil || parsed.Namespace != namespace {
			return nil, fmt.Errorf("sign: the signature ssh-keygen wrote for %s is not an SSHSIG in namespace %s (%v)", filepath.Base(f), namespace, err)
		}
		sigs[k] = sig
	}
	return sigs, nil
}

// LinePrompter asks on w and reads the answer, a line, from in; only "y"
// or "yes" is a yes.
func LinePrompter(in io.Reader, w io.Writer) Prompter {
	r := bufio.NewReader(in)
	return PromptFunc(func(prompt string) (bool, error) {
		fmt.Fprint(w, prompt)
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			return false, fmt.Errorf("sign: no answer: %w", err)
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	})
}
