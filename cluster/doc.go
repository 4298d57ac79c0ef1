// Package cluster owns the member table: which nodes belong to the cluster,
// at which addresses, with which ring weight and ring state, and whether
// they are alive. From the table it computes the partition ring (package
// cluster/ring) and publishes it in a ring.Holder.
//
// hashicorp/memberlist drives liveness only: who is alive, suspect or dead,
// and the transport the table travels on. memberlist does not publish its
// suspicion, so a peer whose direct probes go unanswered is reported
// suspect from this node's own probe acknowledgements (see hearing) until
// memberlist declares it dead. The table itself is replicated
// state, merged entry by entry (see Entry): every node sends its whole table
// in memberlist's push/pull (LocalState/MergeRemoteState) and broadcasts the
// entries that change. Merge is commutative, associative and idempotent, so
// nodes converge on one table whatever the order and duplication of gossip.
// Gossip carrying another cluster id is ignored.
//
// With Config.GossipKeys, memberlist encrypts and authenticates every
// message (AES-256-GCM keyring): a process without a key learns nothing and
// changes nothing. Without keys gossip is not authenticated, so a Removed
// state arriving by gossip is applied only to members this node sees dead,
// never to itself. The settings and secret are never gossiped.
//
// A node is "joined" once it has the cluster's Settings and its own entry
// in the table. A node started without settings (--join on an empty data
// dir) joins its seeds' memberlist, asks a live member for the settings,
// secret and table over Config.Join (the peer service's Join RPC, which
// decides whom to trust), hands the settings to Config.AdoptSettings and
// then adds itself as Joining. A node whose
// persisted table lists it keeps its place; a known id that comes back
// without its table becomes Joining again and Config.OnStateLoss is called.
// A removed id is refused for good. A new node with Config.Replace takes a
// removed or dead member's place: it joins owning that member's ring
// tokens (Entry.TokensOf), marking a dead one removed (see replace.go).
//
// Membership persists its table through a TableStore (storage implements
// it) and runs a reconnect loop that re-joins table members memberlist
// considers down, so partitions longer than memberlist's memory of dead
// nodes still heal. Every goroutine it starts is stopped by Close.
package cluster
