package antientropy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the package's tests, internal and external, leave
// no goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
