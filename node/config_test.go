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
		"object limit below the value limit":    {func(c *Config) { c.MaxObjectBytes = c.MaxValueBytes - 1 }, "max-object-bytes", "at least --max-value-bytes"},
		"object limit above the message size":   {func(c *Config) { c.MaxObjectBytes = MaxObjectLimit + 1 }, "max-object-bytes", "at most"},
		"read repair chance above 1":            {func(c *Config) { c.ReadRepairChance = 1.5 }, "read-repair-chance", "0 to 1"},
		"unspecified advertised address":        {func(c *Config) { c.AdvertiseGRPCAddr = "0.0.0.0:7001" }, "advertise-grpc-addr", "unspecified"},
		"advertised address without a port":     {func(c *Config) { c.AdvertiseGossipAddr = "10.0.0.5" }, "advertise-gossip-addr", "host:port"},
		"every interface, no host to advertise": {func(c *Config) { c.GRPCAddr, c.GossipAddr = "0.0.0.0:7001", "0.0.0.0:7101" }, "advertise-grpc-addr", "listens on every interface"},
		"RESP on every interface, no host": {func(c *Config) {
			c.GRPCAddr, c.GossipAddr, c.RESPAddr, c.AdvertiseGossipAddr = ":7001", "[::]:7101", "0.0.0.0:7201", ""
		}, "advertise-grpc-addr", "--grpc-addr :7001"},
		"unknown RESP level":          {func(c *Config) { c.RESPConsistency = "most" }, "resp-consistency", "one, quorum or all"},
		"TLS without all three files": {func(c *Config) { c.TLSCert = "a.crt" }, "tls-cert", "all three"},
		"TLS without a gossip key":    {func(c *Config) { c.TLSCert, c.TLSKey, c.TLSCA = "a", "b", "c" }, "gossip-key-file", "required with --tls-*"},
		"replace: not a node id":      {func(c *Config) { c.Replace, c.Join = "n 3", []string{"127.0.0.1:7101"} }, "replace", "not a node id"},
		"replace: its own id":         {func(c *Config) { c.Replace, c.Join = "n1", []string{"127.0.0.1:7101"} }, "replace", "this node's own id"},
		"replace without join":        {func(c *Config) { c.Replace = "n3" }, "replace", "needs --join"},
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
	for name, change := range map[string]func(*Config){
		"every interface, advertised gRPC": func(c *Config) {
			c.GRPCAddr, c.GossipAddr, c.AdvertiseGRPCAddr = "0.0.0.0:7001", "0.0.0.0:7101", "10.0.0.1:7001"
		},
		"every interface, advertised gossip": func(c *Config) {
			c.GRPCAddr, c.GossipAddr, c.AdvertiseGossipAddr = "0.0.0.0:7001", "0.0.0.0:7101", "10.0.0.1:7101"
		},
		"gossip on every interface, gRPC host":   func(c *Config) { c.GRPCAddr, c.GossipAddr = "10.0.0.1:7001", "0.0.0.0:7101" },
		"peer on every interface, gossip host":   func(c *Config) { c.GRPCAddr, c.PeerAddr = "0.0.0.0:7001", "0.0.0.0:7301" },
		"RESP on every interface, advertised it": func(c *Config) { c.RESPAddr, c.AdvertiseRESPAddr = "0.0.0.0:7201", "10.0.0.1:7201" },
		"replace with join":                      func(c *Config) { c.Replace, c.Join = "n3", []string{"127.0.0.1:7101"} },
	} {
		c := base
		change(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v, want nil", name, err)
		}
	}
}
