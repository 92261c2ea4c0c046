package schema

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Signers is the desired operator trust root. The live trust root on the
// host changes only through a signed signers.rotate step; this block says
// what it should become.
type Signers struct {
	Signers []Signer // in file order

	DeclRange hcl.Range
}

// Signer is one operator key and the roles it may sign for.
type Signer struct {
	Principal   string // e.g. alice@ops
	KeyType     string // e.g. ssh-ed25519
	Key         string // base64 public key blob
	Comment     string
	Roles       []string   // sorted: "operational", "recovery"
	ValidAfter  *time.Time // UTC; nil: no bound
	ValidBefore *time.Time

	DeclRange  hcl.Range
	AttrRanges map[string]hcl.Range
}

// Roles and the SSH signature namespace each one grants.
var roleNamespaces = map[string]string{
	"operational": "felhom-operational",
	"recovery":    "felhom-recovery",
}

var roleNames = []string{"operational", "recovery"}

// knownKeyTypes are the OpenSSH public key types a signer may use.
var knownKeyTypes = []string{
	"ssh-ed25519",
	"sk-ssh-ed25519@openssh.com",
	"ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521",
	"sk-ecdsa-sha2-nistp256@openssh.com",
	"ssh-rsa",
}

// Namespaces returns the SSH signature namespaces the signer's roles grant.
func (s *Signer) Namespaces() []string {
	out := make([]string, len(s.Roles))
	for i, r := range s.Roles {
		out[i] = roleNamespaces[r]
	}
	return out
}

// AllowedSignersLine renders the signer as one OpenSSH allowed_signers line,
// without a trailing newline.
func (s *Signer) AllowedSignersLine() string {
	opts := []string{`namespaces="` + strings.Join(s.Namespaces(), ",") + `"`}
	if s.ValidAfter != nil {
		opts = append(opts, `valid-after="`+sshTime(*s.ValidAfter)+`"`)
	}
	if s.ValidBefore != nil {
		opts = append(opts, `valid-before="`+sshTime(*s.ValidBefore)+`"`)
	}
	line := s.Principal + " " + strings.Join(opts, ",") + " " + s.KeyType + " " + s.Key
	if s.Comment != "" {
		line += " " + s.Comment
	}
	return line
}

// AllowedSigners renders the whole set in OpenSSH allowed_signers format,
// one line per signer, each ending in a newline.
func (s *Signers) AllowedSigners() string {
	var b strings.Builder
	for i := range s.Signers {
		b.WriteString(s.Signers[i].AllowedSignersLine())
		b.WriteByte('\n')
	}
	return b.String()
}

// sshTime renders a UTC time in allowed_signers form: a date alone when it
// is midnight, otherwise date and time, always with Z (UTC).
func sshTime(t time.Time) string {
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return t.Format("20060102") + "Z"
	}
	return t.Format("20060102150405") + "Z"
}

var signersSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "signer", LabelNames: []string{"principal"}}},
}

var signerSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "key", Required: true}, {Name: "roles", Required: true}, {Name: "valid_after"}, {Name: "valid_before"},
	},
}

func (d *decoder) signers(h *Host, blocks hcl.Blocks) {
	if len(blocks) == 0 {
		return
	}
	d.onlyFirst(blocks)
	b := blocks[0]
	content := d.content(b, signersSchema)
	h.Signers = &Signers{DeclRange: b.DefRange}
	principals := map[string]hcl.Range{}
	keys := map[string]hcl.Range{}
	for _, sb := range content.Blocks {
		s := d.signer(sb)
		if !d.unique(principals, "signer", s.Principal, sb.LabelRanges[0]) {
			continue
		}
		if s.Key != "" {
			if first, dup := keys[s.Key]; dup {
				d.errorf(s.AttrRanges["key"], "Duplicate signer key", "This key is already given to another signer at %s; each key belongs to one signer.", at(first))
				continue
			}
			keys[s.Key] = s.AttrRanges["key"]
		}
		h.Signers.Signers = append(h.Signers.Signers, s)
	}
	recovery := false
	for _, s := range h.Signers.Signers {
		recovery = recovery || slices.Contains(s.Roles, "recovery")
	}
	if len(content.Blocks) > 0 && !recovery {
		d.warnf(b.DefRange, "No recovery signer",
			"No signer has the recovery role, so no key can sign a signers.rotate step if the operational keys are lost. Consider a recovery key kept offline.")
	}
	if len(content.Blocks) == 0 {
		d.errorf(b.DefRange, "Empty signers block",
			"A signers block with no signer would leave nobody able to sign; declare at least one signer, or remove the block to keep the current trust root.")
	}
}

func (d *decoder) signer(b *hcl.Block) Signer {
	s := Signer{Principal: b.Labels[0], DeclRange: b.DefRange}
	d.checkLabel(b, labelPattern.MatchString(s.Principal), "Invalid signer principal",
		"The principal %q must be one identity such as alice@ops: letters, digits and _ . @ + -, no patterns.")
	content := d.content(b, signerSchema)
	attrs := content.Attributes
	s.AttrRanges = attrRanges(attrs)
	for _, a := range sortedAttrs(attrs) {
		switch a.Name {
		case "key":
			if v, ok := d.str(a); ok {
				if err := parsePublicKey(v, &s); err != nil {
					d.errorf(a.Expr.Range(), "Invalid public key", "key must be an OpenSSH public key line (TYPE BASE64 [COMMENT]): %s.", err)
				}
			}
		case "roles":
			list, ok := d.strList(a)
			if !ok {
				continue
			}
			if len(list) == 0 {
				d.errorf(a.Expr.Range(), "No roles", "A signer needs at least one role (%s); a key without a role grants nothing.", quoteList(roleNames))
			}
			for _, r := range list {
				if _, known := roleNamespaces[r]; !known {
					d.errorf(a.Expr.Range(), "Unknown role", "%q is not a role; roles are %s.%s", r, quoteList(roleNames), didYouMean(r, roleNames))
					continue
				}
				if !slices.Contains(s.Roles, r) {
					s.Roles = append(s.Roles, r)
				}
			}
			slices.Sort(s.Roles)
		case "valid_after":
			s.ValidAfter = d.timestamp(a)
		case "valid_before":
			s.ValidBefore = d.timestamp(a)
		}
	}
	if s.ValidAfter != nil && s.ValidBefore != nil && !s.ValidAfter.Before(*s.ValidBefore) {
		d.errorf(s.AttrRanges["valid_before"], "Empty validity window", "valid_before must be later than valid_after.")
	}
	return s
}

// timestamp accepts a date (2027-12-31, midnight UTC) or an RFC 3339 time.
func (d *decoder) timestamp(a *hcl.Attribute) *time.Time {
	v, ok := d.str(a)
	if !ok {
		return nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return &t
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || t.Year() < 1970 || t.Year() > 9999 {
		d.errorf(a.Expr.Range(), "Invalid timestamp", "%s must be a date (2027-12-31) or an RFC 3339 time (2027-12-31T18:00:00Z), got %q.", a.Name, v)
		return nil
	}
	t = t.UTC()
	return &t
}

// parsePublicKey checks the shape of an OpenSSH public key line: a known
// key type, base64 that decodes, and a blob that names the same type. Full
// key parsing happens where keys are used.
func parsePublicKey(line string, s *Signer) error {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return fmt.Errorf("want the key type and the base64 key, got %d field(s)", len(fields))
	}
	typ, b64 := fields[0], fields[1]
	if !slices.Contains(knownKeyTypes, typ) {
		return fmt.Errorf("unknown key type %q; use one of %s", typ, strings.Join(knownKeyTypes, ", "))
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("the key is not valid base64")
	}
	if len(blob) < 4 {
		return fmt.Errorf("the key is too short")
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != typ {
		return fmt.Errorf("the key's data does not match its type %q", typ)
	}
	s.KeyType, s.Key = typ, b64
	s.Comment = strings.Join(fields[2:], " ")
	return nil
}
