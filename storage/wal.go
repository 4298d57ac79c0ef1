package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The commit log. It lives in Dir/wal as segments named by the log
// position of their first byte (16 hex digits, ".wal"). A log position is
// a byte offset in the one stream the segments cut in pieces, so it only
// grows, across segments and restarts.
//
// A record is
//
//	length  uint32 (big endian): bytes of kind and body
//	crc     uint32: CRC-32C of kind and body
//	kind    1 byte
//	body    length-1 bytes
//
// with bodies
//
//	recordPut:  uvarint storage key length, storage key, Object.Marshal()
//	recordDel:  storage key
//	recordDrop: partition (2 bytes big endian)
//
// A length of zero ends the log (a file is never preallocated, so this
// only guards against a zeroed tail).
const (
	// WALDirName is the log's directory inside the data dir.
	WALDirName = "wal"

	walSuffix    = ".wal"
	recordHeader = 8

	recordPut  byte = 1
	recordDel  byte = 2
	recordDrop byte = 3

	// maxRecordBytes bounds the length a reader believes: a stored object
	// is at most a few MiB, so a larger length is damage, not data.
	maxRecordBytes = 256 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// WALDir returns the directory of dir's commit log.
func WALDir(dir string) string { return filepath.Join(dir, WALDirName) }

func segmentName(start uint64) string { return fmt.Sprintf("%016x%s", start, walSuffix) }

// listSegments returns the start positions of the segments in walDir,
// ascending. Files that are not segments are ignored.
func listSegments(walDir string) ([]uint64, error) {
	ents, err := os.ReadDir(walDir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, de := range ents {
		name, ok := strings.CutSuffix(de.Name(), walSuffix)
		if !ok || len(name) != 16 || de.IsDir() {
			continue
		}
		start, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		out = append(out, start)
	}
	slices.Sort(out)
	return out, nil
}

// appendRecord appends the encoding of one record to buf.
func appendRecord(buf []byte, kind byte, sk, enc []byte) []byte {
	var bodyLen int
	switch kind {
	case recordPut:
		bodyLen = binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(sk))) + len(sk) + len(enc)
	case recordDel:
		bodyLen = len(sk)
	case recordDrop:
		bodyLen = 2
	}
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(1+bodyLen))
	buf = append(buf, 0, 0, 0, 0, kind)
	switch kind {
	case recordPut:
		buf = binary.AppendUvarint(buf, uint64(len(sk)))
		buf = append(buf, sk...)
		buf = append(buf, enc...)
	case recordDel:
		buf = append(buf, sk...)
	case recordDrop:
		buf = append(buf, sk[:2]...)
	}
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+recordHeader:], crcTable))
	return buf
}

// logRecord is a record read back from the log.
type logRecord struct {
	kind byte
	sk   []byte // recordPut, recordDel: the storage key; recordDrop: the partition
	enc  []byte // recordPut: the object
	end  uint64 // log position just past the record
}

// errBadRecord marks a record that cannot be read: torn, damaged or
// truncated.
var errBadRecord = errors.New("bad record")

// readSegment reads the records of one segment, calling fn for each, and
// returns the offset in the file just past the last good one. A record
// that cannot be read stops the reading with an error matching
// errBadRecord at its offset; a zero length or the end of the file ends it
// cleanly.
func readSegment(path string, start uint64, fn func(r logRecord) error) (good int64, size int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	size = int64(len(data))
	off := 0
	for off < len(data) {
		if len(data)-off < recordHeader {
			if allZero(data[off:]) {
				return int64(off), size, nil
			}
			return int64(off), size, fmt.Errorf("%w: header cut short", errBadRecord)
		}
		n := int(binary.BigEndian.Uint32(data[off:]))
		if n == 0 {
			if allZero(data[off:]) {
				return int64(off), size, nil
			}
			return int64(off), size, fmt.Errorf("%w: zero length before more data", errBadRecord)
		}
		if n > maxRecordBytes || n > len(data)-off-recordHeader {
			return int64(off), size, fmt.Errorf("%w: length %d runs past the end", errBadRecord, n)
		}
		body := data[off+recordHeader : off+recordHeader+n]
		if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[off+4:]) {
			return int64(off), size, fmt.Errorf("%w: checksum mismatch", errBadRecord)
		}
		r, err := decodeRecord(body)
		if err != nil {
			return int64(off), size, err
		}
		off += recordHeader + n
		r.end = start + uint64(off)
		if err := fn(r); err != nil {
			return int64(off), size, err
		}
	}
	return int64(off), size, nil
}

func decodeRecord(body []byte) (logRecord, error) {
	r := logRecord{kind: body[0]}
	b := body[1:]
	switch r.kind {
	case recordPut:
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) || n <= keyPrefixBytes {
			return r, fmt.Errorf("%w: bad key length", errBadRecord)
		}
		r.sk, r.enc = b[w:w+int(n)], b[w+int(n):]
	case recordDel:
		if len(b) <= keyPrefixBytes {
			return r, fmt.Errorf("%w: bad key length", errBadRecord)
		}
		r.sk = b
	case recordDrop:
		if len(b) != 2 {
			return r, fmt.Errorf("%w: bad partition", errBadRecord)
		}
		r.sk = b
	default:
		return r, fmt.Errorf("%w: unknown kind %d", errBadRecord, r.kind)
	}
	return r, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// lastNonZero returns the length of b without its trailing zero bytes.
func lastNonZero(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return i + 1
		}
	}
	return 0
}

// truncateSegment cuts the file at off, syncs it, and returns how many
// bytes of data (trailing zeros not counted) it dropped.
func truncateSegment(path string, off int64) (dropped int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tail, err := io.ReadAll(io.NewSectionReader(f, off, 1<<62))
	if err != nil {
		return 0, err
	}
	if err := f.Truncate(off); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return int64(lastNonZero(tail)), nil
}
