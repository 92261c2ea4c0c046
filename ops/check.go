package ops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
)

// ParamsError is params that do not fit their op's schema.
type ParamsError struct {
	Op  string
	Msg string
}

func (e *ParamsError) Error() string { return fmt.Sprintf("params for %s: %s", e.Op, e.Msg) }

// UnknownOpError is an op name that is not one of the ops.
type UnknownOpError struct{ Op string }

func (e *UnknownOpError) Error() string {
	msg := fmt.Sprintf("unknown op %q", e.Op)
	if s := Suggest(e.Op, Names()); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return msg
}

// CheckParams checks that params (a JSON object) fit op: every key is one
// the op knows, of the right JSON type, and every required key is there.
func CheckParams(op string, params []byte) error {
	s, ok := byName[op]
	if !ok {
		return &UnknownOpError{Op: op}
	}
	var m map[string]json.RawMessage
	trimmed := bytes.TrimSpace(params)
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	if err := json.Unmarshal(trimmed, &m); err != nil || m == nil {
		return &ParamsError{Op: op, Msg: "must be a JSON object"}
	}
	known := make([]string, 0, len(s.Params))
	for _, pr := range s.Params {
		known = append(known, pr.Name)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pr, ok := s.param(k)
		if !ok {
			msg := fmt.Sprintf("unknown key %q", k)
			if sug := Suggest(k, known); sug != "" {
				msg += fmt.Sprintf("; did you mean %q?", sug)
			} else if len(known) == 0 {
				msg += " (this op takes no params)"
			} else {
				msg += fmt.Sprintf(" (it takes %s)", strings.Join(known, ", "))
			}
			return &ParamsError{Op: op, Msg: msg}
		}
		if !kindMatches(pr.Kind, m[k]) {
			return &ParamsError{Op: op, Msg: fmt.Sprintf("%q must be %s", k, pr.Kind)}
		}
	}
	for _, pr := range s.Params {
		if _, ok := m[pr.Name]; pr.Required && !ok {
			return &ParamsError{Op: op, Msg: fmt.Sprintf("missing %q (%s)", pr.Name, pr.Kind)}
		}
	}
	return nil
}

func (s *Spec) param(name string) (Param, bool) {
	for _, pr := range s.Params {
		if pr.Name == name {
			return pr, true
		}
	}
	return Param{}, false
}

func kindMatches(k Kind, raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	switch k {
	case String:
		return raw[0] == '"'
	case Bool:
		return string(raw) == "true" || string(raw) == "false"
	case Object:
		return raw[0] == '{'
	case Strings:
		var ss []string
		return raw[0] == '[' && json.Unmarshal(raw, &ss) == nil
	default:
		return true
	}
}

// Suggest returns the candidate closest to s when it is close enough to be
// a likely typo, or "".
func Suggest(s string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := levenshtein.Distance(s, c, nil)
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > 3 || bestD*2 > len(s)+1 {
		return ""
	}
	return best
}

// Decode checks raw against op's params schema (CheckParams) and decodes
// it into P, which must be op's params type. Unknown keys, missing
// required keys and wrong JSON types are refused.
func Decode[P any](op string, raw []byte) (P, error) {
	var p P
	s, ok := byName[op]
	if !ok {
		return p, &UnknownOpError{Op: op}
	}
	if t := reflect.TypeFor[P](); t != s.paramsType {
		return p, fmt.Errorf("params for %s: decoded as %s, its params are %s", op, t, s.paramsType)
	}
	if err := CheckParams(op, raw); err != nil {
		return p, err
	}
	p, err := DecodeStrict[P](raw)
	if err != nil {
		return p, &ParamsError{Op: op, Msg: err.Error()}
	}
	return p, nil
}

// DecodeStrict decodes raw (a JSON object; empty means {}) into P,
// refusing keys P does not have. For the params of a call that is not a
// step of its own (an archive deletion of a prune); a step's params go
// through Decode.
func DecodeStrict[P any](raw []byte) (P, error) {
	var p P
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	err := dec.Decode(&p)
	return p, err
}
