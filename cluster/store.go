package cluster

// TableStore persists the member table of one node. storage implements it;
// node/ wires it in.
//
// Membership calls it from one goroutine at a time: LoadMembers once, in
// New, then SaveMembers whenever the table changed (coalesced: a save may
// cover several changes, and the last save before Close returns covers the
// table as Close found it). Either may block on disk I/O.
type TableStore interface {
	// LoadMembers returns the bytes last given to SaveMembers, or nil, nil
	// when nothing was saved. The caller owns the returned slice.
	LoadMembers() ([]byte, error)
	// SaveMembers durably replaces the saved bytes with b (an encoded
	// quorumkv.v1.MemberTable). It must not keep b after returning.
	SaveMembers(b []byte) error
}
