// Package security owns quorumkv's transport security: creating the
// cluster's development certificates (a CA, node and client certificates,
// gossip keys), reading the identity and role a certificate carries,
// building mutual TLS 1.3 configurations whose certificates are reloaded
// from disk when they change, and enforcing roles on the gRPC server
// (the RESP listener takes its connections' identities from ConnIdentity
// and judges roles with Allowed itself).
//
// A node certificate names its node in a URI SAN quorumkv://node/ID; a
// client certificate names its client and role in a URI SAN
// quorumkv://client/NAME?role=read|write|admin. Roles are ordered read <
// write < admin; a node certificate may do anything a client may, and it
// alone may call the Replica service.
package security
