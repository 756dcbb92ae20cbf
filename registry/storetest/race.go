//go:build race

package storetest

// raceEnabled: the tests run under the race detector.
const raceEnabled = true
