package resp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestReader_ReadCommand(t *testing.T) {
	for name, tc := range map[string]struct {
		in      string
		max     int
		want    []string // nil: no command (an empty one)
		wantErr error
	}{
		"array":                {in: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", want: []string{"GET", "k"}},
		"empty bulk":           {in: "*2\r\n$3\r\nSET\r\n$0\r\n\r\n", want: []string{"SET", ""}},
		"binary bulk":          {in: "*1\r\n$4\r\na\r\nb\r\n", want: []string{"a\r\nb"}},
		"inline":               {in: "PING hello  world\r\n", want: []string{"PING", "hello", "world"}},
		"inline LF only":       {in: "PING\n", want: []string{"PING"}},
		"empty inline":         {in: "\r\n"},
		"zero array":           {in: "*0\r\n"},
		"negative array":       {in: "*-1\r\n"},
		"bad multibulk length": {in: "*x\r\n", wantErr: ErrProtocol},
		"huge multibulk":       {in: "*99999999\r\n", wantErr: ErrProtocol},
		"not a bulk":           {in: "*1\r\n+OK\r\n", wantErr: ErrProtocol},
		"negative bulk":        {in: "*1\r\n$-1\r\n", wantErr: ErrProtocol},
		// The length is refused before anything is read or allocated.
		"bulk over the limit":  {in: "*1\r\n$2147483647\r\n", wantErr: ErrProtocol},
		"bulk at the limit":    {in: "*1\r\n$" + fmt.Sprint(1024-argOverhead) + "\r\n" + strings.Repeat("x", 1024-argOverhead) + "\r\n", want: []string{strings.Repeat("x", 1024-argOverhead)}},
		"bulk just over":       {in: "*1\r\n$" + fmt.Sprint(1024-argOverhead+1) + "\r\n", wantErr: ErrProtocol},
		"total over the limit": {in: "*3\r\n$400\r\n" + strings.Repeat("x", 400) + "\r\n$400\r\n" + strings.Repeat("x", 400) + "\r\n$400\r\n", wantErr: ErrProtocol},
		"no CRLF after bulk":   {in: "*1\r\n$1\r\nkXY", wantErr: ErrProtocol},
		"truncated":            {in: "*2\r\n$3\r\nGET\r\n", wantErr: io.ErrUnexpectedEOF},
		"long header line":     {in: "*1\r\n$" + strings.Repeat("1", 40) + "\r\n", wantErr: ErrProtocol},
		"inline too long":      {in: strings.Repeat("a", 2000) + "\r\n", max: 1024, wantErr: ErrProtocol},
	} {
		t.Run(name, func(t *testing.T) {
			max := tc.max
			if max == 0 {
				max = 1024
			}
			rd := NewReader(bufio.NewReaderSize(strings.NewReader(tc.in), 64), max)
			args, err := rd.ReadCommand()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ReadCommand(%q) = %q, %v; want %v", tc.in, args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadCommand(%q): %v", tc.in, err)
			}
			var got []string
			for _, a := range args {
				got = append(got, string(a))
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Fatalf("ReadCommand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzReader feeds the reader arbitrary bytes: it never panics, never
// returns a command over its limit, and reads back what a writer of
// arrays of bulk strings wrote.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n",
		"PING\r\n",
		"*1\r\n$-1\r\n",
		"*-5\r\n",
		"*1\r\n$99999999999\r\n",
		"*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n",
		"$3\r\nfoo\r\n",
		"\r\n\r\n",
		"*1\r\n$3\r\nab",
	} {
		f.Add([]byte(s))
	}
	const max = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bufio.NewReaderSize(strings.NewReader(string(data)), 16), max)
		for range 100 {
			args, err := rd.ReadCommand()
			if err != nil {
				return
			}
			total := 0
			for _, a := range args {
				total += len(a) + argOverhead
			}
			if total > max && len(args) > 0 && data[0] == '*' {
				t.Fatalf("a command of %d bytes (with overhead) passed the limit of %d", total, max)
			}
		}
	})
}

// FuzzReader_roundTrip: any arguments, written as a RESP array of bulk
// strings, are read back exactly, split across buffer boundaries anyhow.
func FuzzReader_roundTrip(f *testing.F) {
	f.Add([]byte("SET"), []byte("k"), []byte("v\r\n"), uint8(16))
	f.Add([]byte(""), []byte("\x00"), []byte("*1\r\n$-1\r\n"), uint8(200))
	f.Fuzz(func(t *testing.T, a, b, c []byte, size uint8) {
		var in strings.Builder
		args := [][]byte{a, b, c}
		fmt.Fprintf(&in, "*%d\r\n", len(args))
		for _, x := range args {
			fmt.Fprintf(&in, "$%d\r\n%s\r\n", len(x), x)
		}
		in.WriteString(in.String()) // twice: the second follows in the buffer
		rd := NewReader(bufio.NewReaderSize(strings.NewReader(in.String()), 16+int(size)), 1<<20)
		for range 2 {
			got, err := rd.ReadCommand()
			if err != nil {
				t.Fatalf("ReadCommand: %v", err)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", args) {
				t.Fatalf("read %q, wrote %q", got, args)
			}
		}
	})
}
