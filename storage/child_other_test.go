//go:build !linux

package storage_test

import "errors"

func readOnlyChild(string) error {
	return errors.New("the read-only data dir test needs Linux mount namespaces")
}
