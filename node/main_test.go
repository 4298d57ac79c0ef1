package node

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the package's tests leave no goroutine behind:
// every node they start is closed with everything it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
