package client

import (
	"fmt"
	"strings"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// Consistency is how many replicas of a key must answer a request: One, a
// Quorum (N/2+1) or All N of them. The zero value means "the default":
// the client's default level, which is Quorum unless WithConsistency was
// given to New.
type Consistency int

// The consistency levels.
const (
	One Consistency = iota + 1
	Quorum
	All
)

// ParseConsistency parses a level as a user types it: one, quorum or all, in
// any case.
func ParseConsistency(s string) (Consistency, error) {
	switch strings.ToLower(s) {
	case "one":
		return One, nil
	case "quorum":
		return Quorum, nil
	case "all":
		return All, nil
	}
	return 0, fmt.Errorf("unknown consistency level %q: use one, quorum or all", s)
}

// String returns "one", "quorum" or "all"; "default" for the zero value.
func (c Consistency) String() string {
	switch c {
	case One:
		return "one"
	case Quorum:
		return "quorum"
	case All:
		return "all"
	case 0:
		return "default"
	}
	return fmt.Sprintf("Consistency(%d)", int(c))
}

// MarshalText renders the level as String does; it is how receipts show it
// in JSON.
func (c Consistency) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText parses what MarshalText wrote, as ParseConsistency does.
func (c *Consistency) UnmarshalText(b []byte) error {
	v, err := ParseConsistency(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

func (c Consistency) proto() quorumkvv1.Consistency {
	switch c {
	case One:
		return quorumkvv1.Consistency_CONSISTENCY_ONE
	case All:
		return quorumkvv1.Consistency_CONSISTENCY_ALL
	case Quorum:
		return quorumkvv1.Consistency_CONSISTENCY_QUORUM
	}
	return quorumkvv1.Consistency_CONSISTENCY_UNSPECIFIED
}

// consistencyFromProto resolves UNSPECIFIED to Quorum, as the server does.
func consistencyFromProto(c quorumkvv1.Consistency) Consistency {
	switch c {
	case quorumkvv1.Consistency_CONSISTENCY_ONE:
		return One
	case quorumkvv1.Consistency_CONSISTENCY_ALL:
		return All
	}
	return Quorum
}
