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
		"bind 0.0.0.0":           {mutate: func(c *Config) { c.GossipBindAddr = "0.0.0.0:7101" }},
		"bind without port":      {mutate: func(c *Config) { c.GossipBindAddr = "0.0.0.0" }, field: "GossipBindAddr"},
		"resp addr without port": {mutate: func(c *Config) { c.RESPAddr = "10.0.0.1" }, field: "RESPAddr"},
		"bad seed":               {mutate: func(c *Config) { c.Seeds = []string{"nope"} }, field: "Seeds"},
		"negative interval":      {mutate: func(c *Config) { c.ReconnectInterval = -1 }, field: "ReconnectInterval"},
		"negative suspicion":     {mutate: func(c *Config) { c.SuspicionMult = -1 }, field: "SuspicionMult"},
		"replace":                {mutate: func(c *Config) { c.Replace = "n3" }},
		"replace itself":         {mutate: func(c *Config) { c.Replace = "n1" }, field: "Replace"},
		"replace, long id":       {mutate: func(c *Config) { c.Replace = strings.Repeat("x", 129) }, field: "Replace"},
		"replace without seeds":  {mutate: func(c *Config) { c.Replace, c.Seeds = "n3", nil }, field: "Replace"},
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

// memberlist binds the bind address and advertises the published one, so
// a node bound to every interface is reached at its advertised address.
func TestMemberlistConfig_bindAndAdvertise(t *testing.T) {
	for name, tc := range map[string]struct {
		bind, advertise      string
		wantBind, wantAdvert string
		wantBindPort, wantAP int
	}{
		"every interface":    {"0.0.0.0:7101", "10.0.0.1:7201", "0.0.0.0", "10.0.0.1", 7101, 7201},
		"empty host":         {":7101", "10.0.0.1:7101", "0.0.0.0", "10.0.0.1", 7101, 7101},
		"bind = advertise":   {"", "127.0.0.1:7101", "127.0.0.1", "127.0.0.1", 7101, 7101},
		"ipv6 any, ipv4 adv": {"[::]:7101", "192.0.2.7:7101", "::", "192.0.2.7", 7101, 7101},
	} {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			c.Transport = nil
			c.GossipBindAddr, c.GossipAddr = tc.bind, tc.advertise
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			m := &Membership{cfg: c.withDefaults()}
			mc, err := m.memberlistConfig()
			if err != nil {
				t.Fatal(err)
			}
			if mc.BindAddr != tc.wantBind || mc.BindPort != tc.wantBindPort || mc.AdvertiseAddr != tc.wantAdvert || mc.AdvertisePort != tc.wantAP {
				t.Fatalf("memberlist binds %s:%d advertises %s:%d, want %s:%d and %s:%d", mc.BindAddr, mc.BindPort, mc.AdvertiseAddr, mc.AdvertisePort,
					tc.wantBind, tc.wantBindPort, tc.wantAdvert, tc.wantAP)
			}
		})
	}
}
