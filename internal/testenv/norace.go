//go:build !race

package testenv

// Race is true when the tests are built with -race (see race.go).
const Race = false
