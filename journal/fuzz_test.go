package journal

import (
	"bytes"
	"testing"
)

// FuzzParse: any bytes parse without a panic into a valid prefix and at
// most one of a torn tail (the rest of the file) or a corrupt line (at the
// end of the prefix); a prefix re-reads as the same records.
func FuzzParse(f *testing.F) {
	var story []byte
	for _, r := range storyRecords() {
		line, err := encodeLine(r)
		if err != nil {
			f.Fatal(err)
		}
		story = append(story, line...)
	}
	f.Add(story)
	f.Add(story[:len(story)-5])
	f.Add([]byte{})
	f.Add([]byte("\n"))
	f.Add([]byte("00000000 {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, valid, torn, cerr := parse(data)
		if valid < 0 || valid > int64(len(data)) {
			t.Fatalf("valid prefix %d of %d bytes", valid, len(data))
		}
		if torn != nil && cerr != nil {
			t.Fatal("both a torn tail and a corrupt line")
		}
		switch {
		case torn != nil:
			if torn.Offset != valid || torn.Offset+torn.Length != int64(len(data)) {
				t.Fatalf("torn tail %+v, valid %d, size %d", torn, valid, len(data))
			}
		case cerr != nil:
			if cerr.Offset != valid || cerr.Line != len(recs)+1 {
				t.Fatalf("corrupt %+v, valid %d, %d records", cerr, valid, len(recs))
			}
		default:
			if valid != int64(len(data)) {
				t.Fatalf("clean parse of %d of %d bytes", valid, len(data))
			}
		}
		again, v2, t2, c2 := parse(data[:valid])
		if len(again) != len(recs) || v2 != valid || t2 != nil || c2 != nil {
			t.Fatalf("the valid prefix re-reads as %d records (torn %v, corrupt %v), want %d", len(again), t2, c2, len(recs))
		}
		if bytes.Count(data[:valid], []byte{'\n'}) != len(recs) {
			t.Fatal("records and lines differ")
		}
	})
}
