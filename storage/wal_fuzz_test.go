package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadSegment feeds arbitrary bytes to the segment reader: it must
// never panic, must stop at the first record it cannot read, and every
// record it returns must encode back to the bytes it came from.
func FuzzReadSegment(f *testing.F) {
	sk := Key([]byte("key"))
	good := appendRecord(nil, recordPut, sk, []byte{1, 2, 3})
	good = appendRecord(good, recordDel, sk, nil)
	good = appendRecord(good, recordDrop, []byte{0, 7}, nil)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(bytes.Clone(good), 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add([]byte{0, 0, 0, 5, 1, 2, 3, 4, 1})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "seg.wal")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var again []byte
		good, size, err := readSegment(path, 1000, func(r logRecord) error {
			switch r.kind {
			case recordPut:
				again = appendRecord(again, r.kind, r.sk, r.enc)
			default:
				again = appendRecord(again, r.kind, r.sk, nil)
			}
			if r.end != 1000+uint64(len(again)) {
				t.Fatalf("record ends at %d, want %d", r.end, 1000+len(again))
			}
			return nil
		})
		if size != int64(len(data)) || good > size {
			t.Fatalf("good %d, size %d of %d bytes", good, size, len(data))
		}
		if err != nil && !errors.Is(err, errBadRecord) {
			t.Fatalf("error %v is not a bad record", err)
		}
		if !bytes.Equal(again, data[:good]) {
			t.Fatal("the records read do not encode back to the bytes they came from")
		}
	})
}
