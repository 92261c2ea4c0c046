package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rogpeppe/go-internal/testscript"
)

// statusScriptCmds are the script commands of the status work:
//
//	promcheck FILE   parse FILE as a Prometheus text file (expfmt), fail on
//	                 a metric without HELP or TYPE and on any lint problem
//	                 (promlint), and print one line per series to stdout:
//	                 NAME{LABEL="VALUE",...} TYPE VALUE
func statusScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"promcheck": cmdPromCheck,
	}
}

func cmdPromCheck(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: promcheck FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		ts.Fatalf("%s: %v", args[0], err)
	}
	for _, want := range []string{"# HELP ", "# TYPE "} {
		for name := range fams {
			if !bytes.Contains(b, []byte(want+name+" ")) {
				ts.Fatalf("%s: no %sline for %s", args[0], strings.TrimSpace(want), name)
			}
		}
	}
	problems, err := promlint.New(bytes.NewReader(b)).Lint()
	ts.Check(err)
	if len(problems) > 0 {
		ts.Fatalf("%s: lint: %v", args[0], problems)
	}
	var lines []string
	for name, mf := range fams {
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			series := name
			if len(labels) > 0 {
				series += "{" + strings.Join(labels, ",") + "}"
			}
			var v float64
			switch {
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Untyped != nil:
				v = m.Untyped.GetValue()
			}
			lines = append(lines, fmt.Sprintf("%s %s %s", series, strings.ToLower(mf.GetType().String()), formatValue(v)))
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(ts.Stdout(), l)
	}
}

// formatValue prints v in plain decimal (timestamps stay readable).
func formatValue(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
