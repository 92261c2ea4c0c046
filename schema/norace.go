//go:build !race

package schema

// raceFactor stretches the load budget's times in a binary built with the
// race detector (race.go); this binary is not.
const raceFactor = 1
