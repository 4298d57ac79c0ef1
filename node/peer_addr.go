package node

import "net"

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

// advertisedPeerAddr is the peer address published in the member table,
// which other nodes dial: --advertise-peer-addr, or the address the peer
// listener is bound to (bound), with the host of --advertise-grpc-addr
// when bound's host is unspecified (0.0.0.0, ::) and that flag is given.
func advertisedPeerAddr(cfg Config, bound string) string {
	if cfg.AdvertisePeerAddr != "" {
		return cfg.AdvertisePeerAddr
	}
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() && cfg.AdvertiseGRPCAddr != "" {
		if ahost, _, err := net.SplitHostPort(cfg.AdvertiseGRPCAddr); err == nil {
			return net.JoinHostPort(ahost, port)
		}
	}
	return net.JoinHostPort(host, port)
}
