// Package plan observes the live host, diffs it against the desired state,
// classifies every step as benign or destructive and renders the result.
// It never mutates the host.
package plan
