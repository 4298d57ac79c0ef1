package resp

import (
	"bufio"
	"strconv"
	"strings"
)

// Writer encodes replies in the protocol version a connection chose with
// HELLO: RESP2 (the default) or RESP3. The aggregate types RESP3 adds
// (maps, sets, null) are written as their RESP2 equivalents under RESP2.
// Errors of writes are sticky in the bufio.Writer and seen at Flush.
type Writer struct {
	w     *bufio.Writer
	proto int // 2 or 3
	num   [24]byte
}

// NewWriter returns a RESP2 Writer on w.
func NewWriter(w *bufio.Writer) *Writer { return &Writer{w: w, proto: 2} }

// Flush writes what is buffered to the connection.
func (w *Writer) Flush() error { return w.w.Flush() }

func (w *Writer) header(prefix byte, n int) {
	_ = w.w.WriteByte(prefix)
	_, _ = w.w.Write(strconv.AppendInt(w.num[:0], int64(n), 10))
	_, _ = w.w.WriteString("\r\n")
}

// Simple writes a simple string (+OK).
func (w *Writer) Simple(s string) {
	_ = w.w.WriteByte('+')
	_, _ = w.w.WriteString(oneLine(s))
	_, _ = w.w.WriteString("\r\n")
}

// Error writes an error; msg starts with its code (ERR, WRONGTYPE, ...).
func (w *Writer) Error(msg string) {
	_ = w.w.WriteByte('-')
	_, _ = w.w.WriteString(oneLine(msg))
	_, _ = w.w.WriteString("\r\n")
}

// Int writes an integer.
func (w *Writer) Int(n int) { w.header(':', n) }

// Bulk writes a bulk string.
func (w *Writer) Bulk(b []byte) {
	w.header('$', len(b))
	_, _ = w.w.Write(b)
	_, _ = w.w.WriteString("\r\n")
}

// BulkString writes s as a bulk string.
func (w *Writer) BulkString(s string) {
	w.header('$', len(s))
	_, _ = w.w.WriteString(s)
	_, _ = w.w.WriteString("\r\n")
}

// Verbatim writes a RESP3 verbatim text string (txt), a bulk string
// under RESP2.
func (w *Writer) Verbatim(s string) {
	if w.proto < 3 {
		w.BulkString(s)
		return
	}
	w.header('=', len(s)+4)
	_, _ = w.w.WriteString("txt:")
	_, _ = w.w.WriteString(s)
	_, _ = w.w.WriteString("\r\n")
}

// Null writes the null reply: a null bulk string under RESP2.
func (w *Writer) Null() {
	if w.proto >= 3 {
		_, _ = w.w.WriteString("_\r\n")
		return
	}
	_, _ = w.w.WriteString("$-1\r\n")
}

// NullArray writes the null reply where RESP2 uses a null array.
func (w *Writer) NullArray() {
	if w.proto >= 3 {
		_, _ = w.w.WriteString("_\r\n")
		return
	}
	_, _ = w.w.WriteString("*-1\r\n")
}

// Array starts an array of n elements, written next.
func (w *Writer) Array(n int) { w.header('*', n) }

// Map starts a map of n pairs (2n elements, key first); under RESP2 a
// flat array.
func (w *Writer) Map(n int) {
	if w.proto >= 3 {
		w.header('%', n)
		return
	}
	w.header('*', 2*n)
}

// Set starts a set of n elements; under RESP2 an array.
func (w *Writer) Set(n int) {
	if w.proto >= 3 {
		w.header('~', n)
		return
	}
	w.header('*', n)
}

// Bool writes a boolean: RESP3 #t/#f, the integers 1 and 0 under RESP2.
func (w *Writer) Bool(b bool) {
	if w.proto >= 3 {
		if b {
			_, _ = w.w.WriteString("#t\r\n")
		} else {
			_, _ = w.w.WriteString("#f\r\n")
		}
		return
	}
	if b {
		w.Int(1)
	} else {
		w.Int(0)
	}
}

// oneLine keeps a simple string or error on one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
