package resp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrProtocol marks a request that is not RESP: the connection is answered
// with the error and closed, as Redis does.
var ErrProtocol = errors.New("protocol error")

// argOverhead is what each argument counts against the command limit
// beyond its bytes: its slice header and framing, so a command of many
// empty arguments cannot make the reader allocate more than the limit.
const argOverhead = 32

// maxInlineBytes caps an inline (telnet-style) command line.
const maxInlineBytes = 64 << 10

// Reader reads commands from a client connection. A command is an array
// of bulk strings (what every client library sends) or an inline line of
// space-separated words. Every length is checked before anything is
// allocated for it: a command larger than MaxCommandBytes (its arguments'
// bytes plus argOverhead each) is refused with ErrProtocol, so a client
// cannot make the node buffer more than that.
type Reader struct {
	r *bufio.Reader
	// MaxCommandBytes bounds one command; see Reader.
	MaxCommandBytes int
}

// NewReader returns a Reader of r whose commands are bounded by max bytes.
func NewReader(r *bufio.Reader, maxCommandBytes int) *Reader {
	return &Reader{r: r, MaxCommandBytes: maxCommandBytes}
}

// Buffered reports whether a part of the next command has been read
// already: the connection then answers it before flushing (pipelining).
func (rd *Reader) Buffered() bool { return rd.r.Buffered() > 0 }

func protocolErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, a...))
}

// ReadCommand returns the next command's arguments; an empty command (an
// empty inline line) returns no arguments and no error. The arguments
// are the caller's. Errors are io errors or wrap ErrProtocol.
func (rd *Reader) ReadCommand() ([][]byte, error) {
	b, err := rd.r.Peek(1)
	if err != nil {
		return nil, err
	}
	if b[0] != '*' {
		return rd.readInline()
	}
	line, err := rd.readLine(32)
	if err != nil {
		return nil, err
	}
	n, err := parseLen(line[1:], "multibulk length")
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	budget := rd.MaxCommandBytes
	if n > budget/argOverhead {
		return nil, protocolErr("invalid multibulk length: %d arguments exceed the command limit of %d bytes", n, budget)
	}
	args := make([][]byte, 0, min(n, 1024))
	for range n {
		line, err := rd.readLine(32)
		if err != nil {
			return nil, err
		}
		if line[0] != '$' {
			return nil, protocolErr("expected '$', got '%s'", printable(line[:1]))
		}
		l, err := parseLen(line[1:], "bulk length")
		if err != nil {
			return nil, err
		}
		if l < 0 {
			return nil, protocolErr("invalid bulk length")
		}
		budget -= argOverhead
		if l > budget {
			return nil, protocolErr("invalid bulk length: the command exceeds the limit of %d bytes (--max-key-bytes and --max-value-bytes and framing)", rd.MaxCommandBytes)
		}
		budget -= l
		arg := make([]byte, l+2)
		if _, err := io.ReadFull(rd.r, arg); err != nil {
			return nil, unexpected(err)
		}
		if arg[l] != '\r' || arg[l+1] != '\n' {
			return nil, protocolErr("bulk string not followed by CRLF")
		}
		args = append(args, arg[:l:l])
	}
	return args, nil
}

// readLine returns the next line without its CRLF; it must fit max bytes.
func (rd *Reader) readLine(max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := rd.r.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, protocolErr("too big line (more than %d bytes)", max)
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, unexpected(err)
		}
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, protocolErr("line not ended by CRLF")
	}
	return line[:len(line)-2], nil
}

// readInline reads a command line of space-separated words (quotes are
// not interpreted: inline commands are for a person at a telnet prompt).
func (rd *Reader) readInline() ([][]byte, error) {
	var line []byte
	for {
		frag, err := rd.r.ReadSlice('\n')
		if len(line)+len(frag) > min(maxInlineBytes, rd.MaxCommandBytes) {
			return nil, protocolErr("too big inline request")
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, unexpected(err)
		}
	}
	var args [][]byte
	start := -1
	for i, c := range line {
		space := c == ' ' || c == '\t' || c == '\r' || c == '\n'
		switch {
		case space && start >= 0:
			args = append(args, line[start:i:i])
			start = -1
		case !space && start < 0:
			start = i
		}
	}
	return args, nil
}

// parseLen parses a length of a multibulk or bulk header.
func parseLen(b []byte, what string) (int, error) {
	if len(b) == 0 || len(b) > 11 {
		return 0, protocolErr("invalid %s", what)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, protocolErr("invalid %s", what)
	}
	return n, nil
}

// unexpected turns an EOF inside a command into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}
