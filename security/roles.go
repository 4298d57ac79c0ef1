package security

import (
	"strings"
)

// Service names of the gRPC API, as they appear in full method names.
const (
	kvService      = "quorumkv.v1.KV"
	replicaService = "quorumkv.v1.Replica"
)

// methodRule is what one RPC needs and how messages name it.
type methodRule struct {
	role    Role
	command string // as kvctl names it
}

// kvRules are the client API's RPCs. An RPC of the KV service not listed
// here is an admin RPC; an RPC of the Replica service needs a node; any
// other service is refused (deny by default).
var kvRules = map[string]methodRule{
	"Get":        {RoleRead, "get"},
	"SetMembers": {RoleRead, "smembers"},
	"Ring":       {RoleRead, "ring"},
	"RingTable":  {RoleRead, "ring table"},
	"Members":    {RoleRead, "members"},
	"Status":     {RoleRead, "status"},
	"Put":        {RoleWrite, "put"},
	"Delete":     {RoleWrite, "delete"},
	"SetAdd":     {RoleWrite, "sadd"},
	"SetRemove":  {RoleWrite, "srem"},
	"Repair":     {RoleAdmin, "repair"},
	"Leave":      {RoleAdmin, "leave"},
	"Remove":     {RoleAdmin, "remove"},
	"Backup":     {RoleAdmin, "backup"},
}

// Rule returns the role fullMethod (/package.Service/Method) needs and the
// command's name for messages; ok is false for an RPC no role may call.
func Rule(fullMethod string) (role Role, command string, ok bool) {
	service, method, found := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !found || method == "" {
		return RoleNone, fullMethod, false
	}
	switch service {
	case kvService:
		if r, ok := kvRules[method]; ok {
			return r.role, r.command, true
		}
		return RoleAdmin, strings.ToLower(method), true
	case replicaService:
		return RoleNode, "the peer RPC " + method, true
	}
	return RoleNone, fullMethod, false
}

// Allowed reports whether role may call an RPC that needs need: roles are
// ordered, so a higher one includes those below.
func Allowed(role, need Role) bool { return need != RoleNone && role >= need }
