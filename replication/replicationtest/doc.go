// Package replicationtest holds test helpers for the replication package
// and its users: an in-process network of replicas with fault injection
// (InmemNetwork) and an in-memory Replica (MemReplica). Nothing in it is
// compiled into the database.
package replicationtest
