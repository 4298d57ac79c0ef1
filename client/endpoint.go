package client

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// CheckEndpoint reports whether ep is an endpoint New accepts: host:port,
// with a non-empty host (a name, an IPv4 address or a bracketed IPv6
// address) and a port from 1 to 65535, and no scheme. The error says what
// is wrong and the form expected; it does not name the flag or option that
// gave ep.
func CheckEndpoint(ep string) error {
	const form = "want host:port, e.g. 127.0.0.1:7001"
	if strings.Contains(ep, "://") {
		return fmt.Errorf("%q has a scheme: %s", ep, form)
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %s", ep, form)
	}
	if host == "" {
		return fmt.Errorf("%q has no host: %s", ep, form)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q has a bad port %q: %s, the port from 1 to 65535", ep, port, form)
	}
	return nil
}
