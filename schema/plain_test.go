package schema

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// checkPlainIsTheParser fails when the plain parser takes src, whole or
// any part of it cut after each top-level item, and builds another tree
// than hclsyntax.ParseConfig, or takes a part the parser has diagnostics
// for. It returns how many parts the plain parser took, of how many.
func checkPlainIsTheParser(t *testing.T, src []byte) (plain, parts int) {
	t.Helper()
	layout, diags := checkComplexity(src, "t.hcl", 1)
	if diags.HasErrors() {
		return 0, 0
	}
	p := &plainParser{filename: "t.hcl"}
	pos := hcl.InitialPos
	cuts := append(layout.cuts, len(src))
	for i, end := range cuts {
		check := func(start int, pos hcl.Pos) {
			parts++
			got := p.parse(src, start, end, pos)
			if got == nil {
				return
			}
			plain++
			want, diags := hclsyntax.ParseConfig(src[start:end], "t.hcl", pos)
			switch {
			case len(diags) > 0:
				t.Fatalf("%q: the plain parser took what the parser says %s about", src[start:end], describe(diags))
			case !reflect.DeepEqual(got, want.Body):
				g, w := strings.Split(treeText(got), "\n"), strings.Split(treeText(want.Body), "\n")
				i := 0
				for i < len(g) && i < len(w) && g[i] == w[i] {
					i++
				}
				t.Fatalf("%q: the plain parser's tree differs from the parser's at line %d:\nplain:  %s\nparser: %s",
					src[start:end], i, strings.Join(g[max(i-3, 0):min(i+2, len(g))], "\n        "), strings.Join(w[max(i-3, 0):min(i+2, len(w))], "\n        "))
			}
		}
		check(pos.Byte, pos)
		if i == 0 && len(cuts) > 1 {
			check(0, hcl.InitialPos) // and the whole file
		}
		pos = hcl.Pos{Line: pos.Line + strings.Count(string(src[pos.Byte:end]), "\n"), Column: 1, Byte: end}
	}
	return plain, parts
}

// TestPlainIsTheParser compares the plain parser with hclsyntax's on the
// shapes it takes and on their near misses, which it must leave to
// hclsyntax: escapes, templates, signs, expressions after a literal,
// one-line blocks, attributes set twice, comments of every kind, unusual
// line breaks, non-ASCII text. A matching desired state (what bench/
// gendesired writes) must be plain throughout.
func TestPlainIsTheParser(t *testing.T) {
	cases := []string{
		"guest \"a\" {\n  vmid = 100\n  s = \"x\"\n  e = \"\"\n  b = true\n  n = null\n  l = [\"a\", 2]\n  f = 1.5\n  r {\n    x = 1\n  }\n}\n",
		"# lead\n\n// also\nx = 1 # trailing\ny = [ # open\n  1, /* one */\n  2,\n]\n/* block\ncomment */\nb lbl \"q\" {\n}\nc {}\n",
		"x = [\n]\ny = []\nz = [[1], [\"a\", [true]]]\n",
		"x = \"a\\nb\"\n", "x = \"a$b\"\n", "x = \"100%\"\n", "x = \"${a}\"\n", "x = \"$${a}\"\n", "x = \"%{if a}b%{endif}\"\n",
		"x = 1 + 1\n", "x = [1][0]\n", "x = a.b\n", "x = -1\n", "x = true ? 1 : 2\n", "x = f(1)\n", "x = {a = 1}\n", "x = (1)\n",
		"x = [1\n[0]]\n", "x = \"a\".b\n", "x = 1.e5\n", "x = 1e+5\n", "x = 0.000001\n",
		"b { x = 1 }\n", "b {\n  x = 1 }\n", "b {\n  x = 1\n} c = 2\n", "b \"l\"\n{\n}\n", "b = {\n}\n", "b {\n  x = 1\n  x = 2\n}\n",
		"x = 1\nx = 2\n", "x = 1, y = 2\n", "x = 1 y = 2\n", "x = 1", "b {\n}", "b {\n", "x =\n", "= 1\n", "\"b\" {\n}\n",
		"x = 1\r\ny = [\r\n  2,\r\n]\r\n", "x = 1\r", "\ufeffx = 1\n", "x = \"é\"\n", "# é\nx = 1\n", "x\t=\t1\n",
		"x = 1 # a\n# b\n\n", "/* a */ x = 1\n", "x = /* a */ 1\n", "x = [/* a */]\n", "b /* c */ \"l\" /* d */ {\n}\n",
		"x = <<EOT\nhi\nEOT\n", "x = 1 // c", "x = \"a\" # c\r\n", "b \"\" {\n}\n", "b \"a\\\"b\" {\n}\n", "x = [,]\n", "x = [1,,]\n",
	}
	cases = append(cases, exampleFiles(t)...)
	for _, c := range cases {
		checkPlainIsTheParser(t, []byte(c))
	}

	var matching strings.Builder
	matching.WriteString(hostBlock)
	for i := range 30 {
		fmt.Fprintf(&matching, "\nguest \"ct%d\" {\n  vmid  = %d\n  state = \"running\"\n  hostname = \"g%d\"\n  cores = 2\n  memory = 1024\n  swap = 512\n  onboot = true\n  unprivileged = true\n  tags = \"prod;web\"\n  features = \"nesting=1\"\n  rootfs {\n    storage = \"local-lvm\"\n    size    = \"8G\"\n  }\n  mount \"mp0\" {\n    path    = \"/srv\"\n    storage = \"local-lvm\"\n    size    = \"4G\"\n    backup  = true\n  }\n  network \"eth0\" {\n    bridge = \"vmbr0\"\n    ip = \"dhcp\"\n    hwaddr = \"BC:24:11:00:00:%02X\"\n    firewall = true\n  }\n}\n", 100+i, 100+i, i, i)
	}
	if plain, parts := checkPlainIsTheParser(t, []byte(matching.String())); plain != parts {
		t.Errorf("the plain parser took %d of the %d parts of a matching desired state", plain, parts)
	}
}

// TestPlainIsTheParserOnFragments compares the plain parser with the
// parser on random strings of the fragments of plain items and of their
// near misses. The seed is fixed, so a failure repeats.
func TestPlainIsTheParserOnFragments(t *testing.T) {
	fragments := []string{
		"x", " = ", "1", "1.5", "true", "null", "\"a\"", "\"\"", "[", "]", ", ", "{", "}", "\n", "\r\n", " ", "b ", "\"l\" ",
		"# c\n", "/* c */", "// c", "-", ".", "a", "$", "\\", "\"", "é", "=",
	}
	rng := rand.New(rand.NewPCG(20, 27))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	var b strings.Builder
	plain := 0
	for range n {
		b.Reset()
		for range 1 + rng.IntN(16) {
			b.WriteString(fragments[rng.IntN(len(fragments))])
		}
		p, _ := checkPlainIsTheParser(t, []byte(b.String()))
		plain += p
	}
	if plain < n/20 {
		t.Errorf("the plain parser took only %d parts of %d strings: the fragments hardly test it", plain, n)
	}
}

// treeText spells out a syntax tree, unexported fields and all, one field
// a line, for showing where two trees differ.
func treeText(v any) string {
	var b strings.Builder
	var walk func(v reflect.Value, indent string)
	walk = func(v reflect.Value, indent string) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if v.IsNil() {
				b.WriteString("nil")
				return
			}
			walk(v.Elem(), indent)
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[cty.Value]() || v.Type() == reflect.TypeFor[hcl.Pos]() {
				fmt.Fprintf(&b, "%#v", v.Interface())
				return
			}
			b.WriteString(v.Type().String() + "{")
			for i := range v.NumField() {
				b.WriteString("\n" + indent + "  " + v.Type().Field(i).Name + ": ")
				walk(v.Field(i), indent+"  ")
			}
			b.WriteString("}")
		case reflect.Map:
			keys := v.MapKeys()
			sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
			fmt.Fprintf(&b, "map(nil=%v){", v.IsNil())
			for _, k := range keys {
				b.WriteString("\n" + indent + "  " + k.String() + ": ")
				walk(v.MapIndex(k), indent+"  ")
			}
			b.WriteString("}")
		case reflect.Slice:
			fmt.Fprintf(&b, "slice(nil=%v)[", v.IsNil())
			for i := range v.Len() {
				b.WriteString("\n" + indent + "  ")
				walk(v.Index(i), indent+"  ")
			}
			b.WriteString("]")
		case reflect.String:
			fmt.Fprintf(&b, "%q", v.String())
		default:
			fmt.Fprintf(&b, "%v", v)
		}
	}
	walk(reflect.ValueOf(v), "")
	return b.String()
}
