package ring

import (
	"errors"
	"testing"
)

func TestState_String(t *testing.T) {
	tests := map[string]struct {
		s    State
		want string
	}{
		"joining": {Joining, "joining"},
		"normal":  {Normal, "normal"},
		"leaving": {Leaving, "leaving"},
		"left":    {Left, "left"},
		"removed": {Removed, "removed"},
		"zero":    {0, "State(0)"},
		"unknown": {42, "State(42)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.s.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
			if tc.s.valid() {
				back, err := ParseState(tc.want)
				if err != nil || back != tc.s {
					t.Fatalf("ParseState(%q) = %v, %v", tc.want, back, err)
				}
			}
		})
	}
}

func TestParseState_unknown(t *testing.T) {
	for _, name := range []string{"", "Normal", "State(0)", "up"} {
		if _, err := ParseState(name); !errors.Is(err, ErrInvalidMember) {
			t.Fatalf("ParseState(%q) error = %v, want ErrInvalidMember", name, err)
		}
	}
}
