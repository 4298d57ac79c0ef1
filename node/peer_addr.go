package node

import "net"

// Bind and advertised addresses. A listener binds its --*-addr; other
// machines reach it at its advertised address, which the member table
// publishes: --advertise-*-addr, or the bound address when its host is
// specified, or else the bound port on the derived host (advertiseHost).
// An advertised address is never unspecified: Validate refuses a listener
// bound to every interface whose advertised host cannot be derived.

// peerBindAddr is the address the peer listener binds: --peer-addr, or
// the --grpc-addr host on an ephemeral port.
func peerBindAddr(cfg Config) string {
	if cfg.PeerAddr != "" {
		return cfg.PeerAddr
	}
	host, _, err := net.SplitHostPort(cfg.GRPCAddr)
	if err != nil { // Validate has checked it
		host = ""
	}
	return net.JoinHostPort(host, "0")
}

// unspecifiedHost reports whether addr's host is empty or an unspecified
// IP (0.0.0.0, ::): a bind on every interface, which no other machine can
// dial.
func unspecifiedHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "" || (ip != nil && ip.IsUnspecified())
}

// advertiseHost is the host advertised for a listener bound to every
// interface without an advertised address of its own: the host of the
// first of --advertise-grpc-addr, --grpc-addr, --advertise-gossip-addr,
// --gossip-addr and --advertise-peer-addr that names one; "" when none
// does.
func advertiseHost(cfg Config) string {
	for _, a := range []string{cfg.AdvertiseGRPCAddr, cfg.GRPCAddr, cfg.AdvertiseGossipAddr, cfg.GossipAddr, cfg.AdvertisePeerAddr} {
		if a != "" && !unspecifiedHost(a) {
			if host, _, err := net.SplitHostPort(a); err == nil {
				return host
			}
		}
	}
	return ""
}

// advertised is the advertised address of a listener bound at bound (as
// bound, so with its real port) whose --advertise-*-addr is adv.
func advertised(cfg Config, adv, bound string) string {
	if adv != "" {
		return adv
	}
	if bound == "" || !unspecifiedHost(bound) {
		return bound
	}
	_, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	return net.JoinHostPort(advertiseHost(cfg), port)
}

// advertisedGRPCAddr is the client gRPC address published in the member
// table, for the listener bound at bound.
func advertisedGRPCAddr(cfg Config, bound string) string {
	return advertised(cfg, cfg.AdvertiseGRPCAddr, bound)
}

// advertisedGossipAddr is the gossip address memberlist advertises and
// the member table publishes.
func advertisedGossipAddr(cfg Config) string {
	return advertised(cfg, cfg.AdvertiseGossipAddr, cfg.GossipAddr)
}

// advertisedRESPAddr is the RESP address published in the member table,
// for the listener bound at bound; empty without --resp-addr.
func advertisedRESPAddr(cfg Config, bound string) string {
	if cfg.RESPAddr == "" {
		return ""
	}
	return advertised(cfg, cfg.AdvertiseRESPAddr, bound)
}

// advertisedPeerAddr is the peer address published in the member table,
// which other nodes dial: --advertise-peer-addr; or the port the peer
// listener is bound to (bound) on the host of --advertise-grpc-addr when
// given, else on the bound host when specified, else on the advertised
// gRPC host (advertiseHost).
func advertisedPeerAddr(cfg Config, bound string) string {
	if cfg.AdvertisePeerAddr != "" {
		return cfg.AdvertisePeerAddr
	}
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	if ahost, _, err := net.SplitHostPort(cfg.AdvertiseGRPCAddr); err == nil && ahost != "" {
		host = ahost
	} else if unspecifiedHost(bound) {
		host = advertiseHost(cfg)
	}
	return net.JoinHostPort(host, port)
}

// checkAdvertisable refuses a listener bound to every interface whose
// advertised address can be neither taken from its flag nor derived,
// naming the --advertise-*-addr flag to give.
func checkAdvertisable(cfg Config) error {
	if advertiseHost(cfg) != "" {
		return nil
	}
	for _, l := range []struct{ bindFlag, bind, advFlag, adv string }{
		{"grpc-addr", cfg.GRPCAddr, "advertise-grpc-addr", cfg.AdvertiseGRPCAddr},
		{"gossip-addr", cfg.GossipAddr, "advertise-gossip-addr", cfg.AdvertiseGossipAddr},
		{"peer-addr", peerBindAddr(cfg), "advertise-peer-addr", cfg.AdvertisePeerAddr},
		{"resp-addr", cfg.RESPAddr, "advertise-resp-addr", cfg.AdvertiseRESPAddr},
	} {
		if l.bind != "" && l.adv == "" && unspecifiedHost(l.bind) {
			return flagErr(l.advFlag, "is required: --%s %s listens on every interface, an address no other machine can dial, and no other address names this node's host (give --advertise-grpc-addr, which the other listeners follow)",
				l.bindFlag, l.bind)
		}
	}
	return nil
}
