// Package conflict owns causality and merge: actors and dots, causal
// contexts (version vectors with the dots outside them), the register part
// of an object as a dotted version vector set, the set part as an add-wins
// observed-remove set without tombstones (ORSWOT), the hybrid logical clock,
// the binary and canonical encodings of an object, and the authenticated
// context tokens handed to clients.
//
// Merge of two objects is a join: commutative, associative and idempotent,
// and it never mints dots or timestamps. Only the operations a coordinator
// applies (Put, Delete, SetAdd, SetRemove) mint: they take a Dot from a
// DotIssuer and a Timestamp from a Clock.
//
// Causal contexts are per key: an entry (a, c) in a key's version vector
// means every dot of actor a up to counter c for that key has been seen.
// That holds although counters are node-wide, because an actor only mints a
// dot for a key on top of its own durable copy of that key, which carries or
// supersedes every earlier dot it minted for the key; a node that lost its
// copy must renew its actor (see DotIssuer.RenewActor).
//
// The package is a leaf: it imports nothing of quorumkv's.
package conflict
