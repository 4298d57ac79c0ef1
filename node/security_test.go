package node

import (
	"errors"
	"testing"
)

func TestCheckPlainAllowed(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*Config)
		ok     bool
	}{
		"loopback":               {func(*Config) {}, true},
		"localhost":              {func(c *Config) { c.GRPCAddr = "localhost:7001" }, true},
		"ipv6 loopback":          {func(c *Config) { c.GossipAddr = "[::1]:7101" }, true},
		"other address":          {func(c *Config) { c.GRPCAddr = "10.0.0.1:7001" }, false},
		"every address":          {func(c *Config) { c.GossipAddr = "0.0.0.0:7101" }, false},
		"empty host":             {func(c *Config) { c.RESPAddr = ":6379" }, false},
		"peer address":           {func(c *Config) { c.PeerAddr = "10.0.0.1:7301" }, false},
		"RESP address":           {func(c *Config) { c.RESPAddr = "10.0.0.1:7201" }, false},
		"RESP on loopback":       {func(c *Config) { c.RESPAddr = "127.0.0.1:7201" }, true},
		"RESP address insecure":  {func(c *Config) { c.RESPAddr, c.Insecure = "10.0.0.1:7201", true }, true},
		"other address insecure": {func(c *Config) { c.GRPCAddr, c.Insecure = "10.0.0.1:7001", true }, true},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			err := checkPlainAllowed(cfg)
			var fe *FlagError
			if tc.ok != (err == nil) || (err != nil && (!errors.As(err, &fe) || fe.Flag != "insecure")) {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
		})
	}
}
