//go:build race

package schema

// raceFactor stretches the load budget's times in a binary built with the
// race detector, which runs code several times slower.
const raceFactor = 10
