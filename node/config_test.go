package node

import (
	"errors"
	"strings"
	"testing"
)

// Every setting is validated at start: a bad one is a *FlagError naming
// the flag and saying what is allowed.
func TestConfig_Validate_namesTheFlag(t *testing.T) {
	base := DefaultConfig()
	base.NodeID, base.DataDir = "n1", "/tmp/x"
	for name, tc := range map[string]struct {
		change func(*Config)
		flag   string
		want   string
	}{
		"object limit below the value limit":  {func(c *Config) { c.MaxObjectBytes = c.MaxValueBytes - 1 }, "max-object-bytes", "at least --max-value-bytes"},
		"object limit above the message size": {func(c *Config) { c.MaxObjectBytes = MaxObjectLimit + 1 }, "max-object-bytes", "at most"},
		"read repair chance above 1":          {func(c *Config) { c.ReadRepairChance = 1.5 }, "read-repair-chance", "0 to 1"},
		"unspecified advertised address":      {func(c *Config) { c.AdvertiseGRPCAddr = "0.0.0.0:7001" }, "advertise-grpc-addr", "unspecified"},
		"advertised address without a port":   {func(c *Config) { c.AdvertiseGossipAddr = "10.0.0.5" }, "advertise-gossip-addr", "host:port"},
		"unknown RESP level":                  {func(c *Config) { c.RESPConsistency = "most" }, "resp-consistency", "one, quorum or all"},
		"TLS without all three files":         {func(c *Config) { c.TLSCert = "a.crt" }, "tls-cert", "all three"},
		"TLS without a gossip key":            {func(c *Config) { c.TLSCert, c.TLSKey, c.TLSCA = "a", "b", "c" }, "gossip-key-file", "required with --tls-*"},
	} {
		t.Run(name, func(t *testing.T) {
			c := base
			tc.change(&c)
			err := c.Validate()
			var fe *FlagError
			if !errors.As(err, &fe) || fe.Flag != tc.flag || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want a --%s error saying %q", err, tc.flag, tc.want)
			}
		})
	}
	if err := base.Validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
}
