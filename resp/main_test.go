package resp

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every server a test starts leaves no goroutine.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
