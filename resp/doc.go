// Package resp owns quorumkv's Redis protocol listener: it reads RESP2
// and RESP3 requests (pipelined, from many connections at once), runs
// the commands it knows through a Backend (the node's replication
// coordinator, at the connection's consistency levels), checks the
// connection's certificate role for each, and writes Redis-style replies
// and errors.
//
// It owns no data and no replication logic: a Redis GET is a quorumkv
// get, SADD a set add, DEL a delete that reads first. What Redis does and
// quorumkv cannot (expiry, compare-and-set, transactions, databases other
// than 0) is refused with an error that says so.
//
// A Server is built by NewServer, serves a listener with Serve and is
// stopped by Shutdown (drain) or Close (cut); both wait for every
// connection goroutine.
package resp
