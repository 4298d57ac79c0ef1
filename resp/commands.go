package resp

import (
	"slices"

	"github.com/quorumkv/quorumkv/security"
)

// command is one command the server knows: how COMMAND describes it,
// who may run it and how it runs. run writes the reply and returns the
// outcome.
type command struct {
	name    string
	arity   int // Redis's: n exactly, or -n at least n (the name included)
	flags   []string
	keys    [3]int // first key, last key, step (COMMAND's key positions)
	role    security.Role
	group   string
	summary string
	args    []argDoc // COMMAND DOCS, for redis-cli's hints
	run     func(c *conn, args [][]byte) string
}

// argDoc is one argument in COMMAND DOCS.
type argDoc struct {
	name, typ          string
	optional, multiple bool
	token              string // a pure-token argument's word
}

func (cmd *command) arityOK(n int) bool {
	if cmd.arity >= 0 {
		return n == cmd.arity
	}
	return n >= -cmd.arity
}

func key(name string) argDoc    { return argDoc{name: name, typ: "key"} }
func str(name string) argDoc    { return argDoc{name: name, typ: "string"} }
func keys(name string) argDoc   { return argDoc{name: name, typ: "key", multiple: true} }
func strs(name string) argDoc   { return argDoc{name: name, typ: "string", multiple: true} }
func optStr(name string) argDoc { return argDoc{name: name, typ: "string", optional: true} }
func optStrs(name string) argDoc {
	return argDoc{name: name, typ: "string", optional: true, multiple: true}
}
func token(word string) argDoc {
	return argDoc{name: word, typ: "pure-token", token: word, optional: true}
}

// commandTable returns the commands by lower-case name.
func commandTable() map[string]*command {
	read, write := security.RoleRead, security.RoleWrite
	list := []*command{
		// Connection.
		{name: "ping", arity: -1, flags: []string{"fast"}, group: "connection", summary: "Returns PONG, or the message given", args: []argDoc{optStr("message")}, run: (*conn).ping},
		{name: "echo", arity: 2, flags: []string{"fast"}, group: "connection", summary: "Returns the message given", args: []argDoc{str("message")}, run: (*conn).echo},
		{name: "quit", arity: -1, flags: []string{"fast"}, group: "connection", summary: "Closes the connection", run: (*conn).quitCmd},
		{name: "select", arity: 2, flags: []string{"fast"}, group: "connection", summary: "Selects database 0, the only one", args: []argDoc{{name: "index", typ: "integer"}}, run: (*conn).selectCmd},
		{name: "hello", arity: -1, flags: []string{"fast"}, group: "connection", summary: "Chooses RESP2 or RESP3 and names the connection (no passwords: identity comes from the TLS client certificate)",
			args: []argDoc{{name: "protover", typ: "integer", optional: true}, token("SETNAME"), optStr("clientname")}, run: (*conn).hello},
		{name: "auth", arity: -2, flags: []string{"fast"}, group: "connection", summary: "Refused: identity comes from the TLS client certificate", args: []argDoc{optStr("username"), str("password")}, run: (*conn).auth},
		{name: "client", arity: -2, group: "connection", summary: "SETNAME, GETNAME, ID, INFO, LIST, SETINFO of connections", args: []argDoc{str("subcommand"), optStrs("arg")}, run: (*conn).client},
		// Server.
		{name: "info", arity: -1, group: "server", summary: "Sections server, clients, keyspace, cluster", args: []argDoc{optStrs("section")}, run: (*conn).info},
		{name: "command", arity: -1, group: "server", summary: "Describes the commands: COMMAND, COUNT, DOCS, INFO, LIST", args: []argDoc{optStr("subcommand"), optStrs("command-name")}, run: (*conn).commandCmd},
		{name: "config", arity: -2, group: "server", summary: "CONFIG GET of the few parameters clients ask for", args: []argDoc{str("subcommand"), strs("parameter")}, run: (*conn).config},
		// Strings.
		{name: "get", arity: 2, flags: []string{"readonly", "fast"}, keys: [3]int{1, 1, 1}, role: read, group: "string", summary: "Reads a key at the connection's read level", args: []argDoc{key("key")}, run: (*conn).get},
		{name: "set", arity: -3, flags: []string{"write"}, keys: [3]int{1, 1, 1}, role: write, group: "string", summary: "Writes a key at the connection's write level (no NX, XX, GET or expiry)",
			args: []argDoc{key("key"), str("value")}, run: (*conn).set},
		{name: "mget", arity: -2, flags: []string{"readonly", "fast"}, keys: [3]int{1, -1, 1}, role: read, group: "string", summary: "Reads several keys", args: []argDoc{keys("key")}, run: (*conn).mget},
		{name: "mset", arity: -3, flags: []string{"write"}, keys: [3]int{1, -1, 2}, role: write, group: "string", summary: "Writes several keys, not atomically", args: []argDoc{key("key"), str("value"), optStrs("key value")}, run: (*conn).mset},
		// Generic.
		{name: "del", arity: -2, flags: []string{"write"}, keys: [3]int{1, -1, 1}, role: write, group: "generic", summary: "Deletes keys, each after reading it", args: []argDoc{keys("key")}, run: (*conn).del},
		{name: "unlink", arity: -2, flags: []string{"write", "fast"}, keys: [3]int{1, -1, 1}, role: write, group: "generic", summary: "Deletes keys, as DEL", args: []argDoc{keys("key")}, run: (*conn).del},
		{name: "exists", arity: -2, flags: []string{"readonly", "fast"}, keys: [3]int{1, -1, 1}, role: read, group: "generic", summary: "Counts the keys that hold a value or a set", args: []argDoc{keys("key")}, run: (*conn).exists},
		{name: "type", arity: 2, flags: []string{"readonly", "fast"}, keys: [3]int{1, 1, 1}, role: read, group: "generic", summary: "string, set or none", args: []argDoc{key("key")}, run: (*conn).typeCmd},
		// Sets.
		{name: "sadd", arity: -3, flags: []string{"write", "fast"}, keys: [3]int{1, 1, 1}, role: write, group: "set", summary: "Adds members to a set", args: []argDoc{key("key"), strs("member")}, run: (*conn).sadd},
		{name: "srem", arity: -3, flags: []string{"write", "fast"}, keys: [3]int{1, 1, 1}, role: write, group: "set", summary: "Removes members from a set, after reading it", args: []argDoc{key("key"), strs("member")}, run: (*conn).srem},
		{name: "smembers", arity: 2, flags: []string{"readonly"}, keys: [3]int{1, 1, 1}, role: read, group: "set", summary: "Lists a set's members", args: []argDoc{key("key")}, run: (*conn).smembers},
		{name: "sismember", arity: 3, flags: []string{"readonly", "fast"}, keys: [3]int{1, 1, 1}, role: read, group: "set", summary: "Whether a member is in a set", args: []argDoc{key("key"), str("member")}, run: (*conn).sismember},
		{name: "smismember", arity: -3, flags: []string{"readonly", "fast"}, keys: [3]int{1, 1, 1}, role: read, group: "set", summary: "Whether each member is in a set", args: []argDoc{key("key"), strs("member")}, run: (*conn).smismember},
		{name: "scard", arity: 2, flags: []string{"readonly", "fast"}, keys: [3]int{1, 1, 1}, role: read, group: "set", summary: "Counts a set's members", args: []argDoc{key("key")}, run: (*conn).scard},
		// quorumkv's own.
		{name: "qkv.consistency", arity: -2, flags: []string{"fast"}, group: "quorumkv", summary: "Sets the connection's levels: one|quorum|all, or READ level WRITE level",
			args: []argDoc{str("level"), optStrs("READ level WRITE level")}, run: (*conn).consistency},
		{name: "qkv.get", arity: 2, flags: []string{"readonly"}, keys: [3]int{1, 1, 1}, role: read, group: "quorumkv", summary: "Reads a key's siblings and its context token", args: []argDoc{key("key")}, run: (*conn).qkvGet},
		{name: "qkv.put", arity: 4, flags: []string{"write"}, keys: [3]int{1, 1, 1}, role: write, group: "quorumkv", summary: "Writes a key with the context token of a QKV.GET, resolving the siblings it saw",
			args: []argDoc{key("key"), str("value"), str("context")}, run: (*conn).qkvPut},
	}
	out := make(map[string]*command, len(list))
	for _, c := range list {
		out[c.name] = c
	}
	return out
}

// sortedCommands returns the commands in name order.
func (s *Server) sortedCommands() []*command {
	out := make([]*command, 0, len(s.commands))
	for _, c := range s.commands {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *command) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return out
}
