package cluster

import (
	"errors"
	"strings"
	"testing"
)

func validConfig() Config {
	c := DefaultConfig()
	c.NodeID = "n1"
	c.ClusterName = "dev"
	c.GRPCAddr = "127.0.0.1:7001"
	c.GossipAddr = "127.0.0.1:7101"
	c.Seeds = []string{"127.0.0.1:7102"}
	return c
}

func TestConfig_Validate(t *testing.T) {
	tests := map[string]struct {
		mutate func(*Config)
		field  string // "" means valid
	}{
		"default with identity":  {mutate: func(*Config) {}},
		"zero tunables":          {mutate: func(c *Config) { c.ProbeInterval, c.VNodes, c.ReconnectInterval = 0, 0, 0 }},
		"no node id":             {mutate: func(c *Config) { c.NodeID = "" }, field: "NodeID"},
		"long node id":           {mutate: func(c *Config) { c.NodeID = strings.Repeat("x", 129) }, field: "NodeID"},
		"long cluster name":      {mutate: func(c *Config) { c.ClusterName = strings.Repeat("x", 256) }, field: "ClusterName"},
		"negative vnodes":        {mutate: func(c *Config) { c.VNodes = -1 }, field: "VNodes"},
		"too many vnodes":        {mutate: func(c *Config) { c.VNodes = 1 << 20 }, field: "VNodes"},
		"grpc addr without port": {mutate: func(c *Config) { c.GRPCAddr = "127.0.0.1" }, field: "GRPCAddr"},
		"gossip addr port 0":     {mutate: func(c *Config) { c.GossipAddr = "127.0.0.1:0" }, field: "GossipAddr"},
		"gossip addr 0.0.0.0":    {mutate: func(c *Config) { c.GossipAddr = "0.0.0.0:7101" }, field: "GossipAddr"},
		"bad seed":               {mutate: func(c *Config) { c.Seeds = []string{"nope"} }, field: "Seeds"},
		"negative interval":      {mutate: func(c *Config) { c.ReconnectInterval = -1 }, field: "ReconnectInterval"},
		"negative suspicion":     {mutate: func(c *Config) { c.SuspicionMult = -1 }, field: "SuspicionMult"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
}

func TestSameAddr(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:7101", "127.0.0.1:7101", true},
		{"[::1]:7101", "[0:0::1]:7101", true},
		{"127.0.0.1:7101", "127.0.0.1:7102", false},
		{"localhost:7101", "127.0.0.1:7101", false},
	}
	for _, tc := range tests {
		if got := sameAddr(tc.a, tc.b); got != tc.want {
			t.Errorf("sameAddr(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
