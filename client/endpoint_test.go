package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/client"
)

func TestCheckEndpoint(t *testing.T) {
	tests := []struct {
		ep   string
		want string // "" = valid; else a part of the error
	}{
		{"127.0.0.1:7001", ""},
		{"localhost:1", ""},
		{"[::1]:65535", ""},
		{"43001", `"43001" is not host:port`},
		{"http://127.0.0.1:7001", `"http://127.0.0.1:7001" has a scheme`},
		{":7001", `":7001" has no host`},
		{"127.0.0.1:", `bad port ""`},
		{"127.0.0.1:0", `bad port "0"`},
		{"127.0.0.1:70000", `bad port "70000"`},
		{"127.0.0.1:http", `bad port "http"`},
		{"::1:7001", "is not host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.ep, func(t *testing.T) {
			err := client.CheckEndpoint(tt.ep)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckEndpoint(%q) = %v, want nil", tt.ep, err)
			case tt.want != "" && err == nil:
				t.Fatalf("CheckEndpoint(%q) = nil, want an error", tt.ep)
			case tt.want != "" && (!strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "host:port")):
				t.Fatalf("CheckEndpoint(%q) = %q, want it to contain %q and name host:port", tt.ep, err, tt.want)
			}
		})
	}
}

func TestNew_badEndpoint(t *testing.T) {
	_, err := client.New([]string{"127.0.0.1:7001", "43001"})
	if !errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), `"43001"`) {
		t.Fatalf("New with 43001: %v, want ErrInvalidArgument naming it", err)
	}
}
