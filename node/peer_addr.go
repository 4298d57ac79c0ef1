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
// which other nodes dial: --advertise-peer-addr, or the port the peer
// listener is bound to (bound) on the advertised gRPC host (that of
// --advertise-grpc-addr, by default the bound host).
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
	}
	return net.JoinHostPort(host, port)
}
