//go:build race

package testenv

// Race is true when the tests are built with -race. The race detector
// makes code 5 to 20 times slower: long property and load tests run
// fewer rounds under it (it finds races between goroutines, not more of
// them in a longer single-goroutine run), within the CI time budget.
const Race = true
