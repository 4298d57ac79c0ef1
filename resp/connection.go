package resp

import (
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/quorumkv/quorumkv/replication"
)

const noPasswords = "quorumkv takes no passwords: the identity comes from the TLS client certificate (redis-cli --tls --cacert CA --cert CERT --key KEY)"

func (c *conn) ping(args [][]byte) string {
	switch len(args) {
	case 1:
		c.wr.Simple("PONG")
	case 2:
		c.wr.Bulk(args[1])
	default:
		c.wr.Error("ERR wrong number of arguments for 'ping' command")
		return OutcomeInvalid
	}
	return OutcomeOK
}

func (c *conn) echo(args [][]byte) string {
	c.wr.Bulk(args[1])
	return OutcomeOK
}

func (c *conn) quitCmd([][]byte) string {
	c.wr.Simple("OK")
	c.quit = true
	return OutcomeOK
}

func (c *conn) selectCmd(args [][]byte) string {
	if string(args[1]) != "0" {
		c.wr.Error("ERR DB index is out of range: quorumkv has database 0 only")
		return OutcomeInvalid
	}
	c.wr.Simple("OK")
	return OutcomeOK
}

func (c *conn) auth([][]byte) string {
	c.wr.Error("ERR " + noPasswords)
	return OutcomeInvalid
}

// validName reports whether a connection name may be set: Redis refuses
// spaces and newlines.
func validName(b []byte) bool {
	for _, ch := range b {
		if ch <= ' ' || ch > '~' {
			return false
		}
	}
	return true
}

// hello switches the protocol (HELLO 2 | HELLO 3), names the connection
// (SETNAME) and answers the server's description.
func (c *conn) hello(args [][]byte) string {
	proto := c.wr.proto
	if len(args) > 1 {
		v, err := strconv.Atoi(string(args[1]))
		if err != nil {
			c.wr.Error("ERR Protocol version is not an integer or out of range")
			return OutcomeInvalid
		}
		if v != 2 && v != 3 {
			c.wr.Error("NOPROTO unsupported protocol version: use 2 or 3")
			return OutcomeInvalid
		}
		proto = v
	}
	name, setName := "", false
	for i := 2; i < len(args); i++ {
		switch strings.ToUpper(string(args[i])) {
		case "AUTH":
			c.wr.Error("ERR HELLO AUTH: " + noPasswords)
			return OutcomeInvalid
		case "SETNAME":
			if i+1 >= len(args) {
				c.wr.Error("ERR syntax error in HELLO option 'setname'")
				return OutcomeInvalid
			}
			if !validName(args[i+1]) {
				c.wr.Error("ERR Client names cannot contain spaces, newlines or special characters.")
				return OutcomeInvalid
			}
			name, setName = string(args[i+1]), true
			i++
		default:
			c.wr.Error("ERR syntax error in HELLO option '" + printable(truncate(args[i], 64)) + "'")
			return OutcomeInvalid
		}
	}
	c.wr.proto = proto
	c.proto.Store(int32(proto))
	if setName {
		c.mu.Lock()
		c.name = name
		c.mu.Unlock()
	}
	c.wr.Map(7)
	c.wr.BulkString("server")
	c.wr.BulkString("quorumkv")
	c.wr.BulkString("version")
	c.wr.BulkString(c.s.cfg.Version)
	c.wr.BulkString("proto")
	c.wr.Int(proto)
	c.wr.BulkString("id")
	c.wr.Int(int(c.id))
	c.wr.BulkString("mode")
	c.wr.BulkString("standalone")
	c.wr.BulkString("role")
	c.wr.BulkString("master")
	c.wr.BulkString("modules")
	c.wr.Array(0)
	return OutcomeOK
}

func (c *conn) client(args [][]byte) string {
	sub := strings.ToUpper(string(args[1]))
	switch {
	case sub == "SETNAME" && len(args) == 3:
		if !validName(args[2]) {
			c.wr.Error("ERR Client names cannot contain spaces, newlines or special characters.")
			return OutcomeInvalid
		}
		c.mu.Lock()
		c.name = string(args[2])
		c.mu.Unlock()
		c.wr.Simple("OK")
	case sub == "GETNAME" && len(args) == 2:
		c.mu.Lock()
		name := c.name
		c.mu.Unlock()
		if name == "" {
			c.wr.Null()
		} else {
			c.wr.BulkString(name)
		}
	case sub == "ID" && len(args) == 2:
		c.wr.Int(int(c.id))
	case sub == "INFO" && len(args) == 2:
		c.wr.Verbatim(c.infoLine() + "\n")
	case sub == "LIST" && len(args) == 2:
		var b strings.Builder
		for _, o := range c.s.clients() {
			b.WriteString(o.infoLine())
			b.WriteString("\n")
		}
		c.wr.Verbatim(b.String())
	case sub == "SETINFO" && len(args) == 4:
		c.wr.Simple("OK") // library name and version: nothing to keep
	default:
		c.wr.Error("ERR unknown subcommand or wrong number of arguments for '" + printable(truncate(args[1], 64)) + "'. Try CLIENT SETNAME, GETNAME, ID, INFO, LIST.")
		return OutcomeInvalid
	}
	return OutcomeOK
}

// infoLine describes the connection as CLIENT INFO and LIST do.
func (c *conn) infoLine() string {
	c.mu.Lock()
	name, cmd, last := c.name, c.lastCmd, c.lastActive
	c.mu.Unlock()
	now := time.Now()
	user := "default"
	if c.identity != nil {
		user = c.identity.String()
		user = strings.ReplaceAll(user, " ", "_")
	}
	return "id=" + strconv.FormatInt(c.id, 10) + " addr=" + c.addr + " laddr=" + c.nc.LocalAddr().String() +
		" name=" + name + " age=" + strconv.Itoa(int(now.Sub(c.opened).Seconds())) +
		" idle=" + strconv.Itoa(int(now.Sub(last).Seconds())) + " db=0 user=" + user +
		" resp=" + strconv.Itoa(int(c.proto.Load())) + " cmd=" + cmd
}

// consistency sets the connection's levels: QKV.CONSISTENCY one|quorum|all,
// or READ level and/or WRITE level.
func (c *conn) consistency(args [][]byte) string {
	read, write := c.read, c.write
	if len(args) == 2 {
		l, ok := parseLevel(args[1])
		if !ok {
			c.wr.Error("ERR " + strconv.Quote(string(truncate(args[1], 64))) + " is not a level: use one, quorum or all")
			return OutcomeInvalid
		}
		read, write = l, l
	} else {
		if len(args)%2 != 1 {
			c.wr.Error("ERR syntax: QKV.CONSISTENCY one|quorum|all, or QKV.CONSISTENCY [READ level] [WRITE level]")
			return OutcomeInvalid
		}
		for i := 1; i < len(args); i += 2 {
			l, ok := parseLevel(args[i+1])
			if !ok {
				c.wr.Error("ERR " + strconv.Quote(string(truncate(args[i+1], 64))) + " is not a level: use one, quorum or all")
				return OutcomeInvalid
			}
			switch strings.ToUpper(string(args[i])) {
			case "READ":
				read = l
			case "WRITE":
				write = l
			default:
				c.wr.Error("ERR syntax: QKV.CONSISTENCY one|quorum|all, or QKV.CONSISTENCY [READ level] [WRITE level]")
				return OutcomeInvalid
			}
		}
	}
	c.read, c.write = read, write
	c.wr.Simple("OK")
	return OutcomeOK
}

func parseLevel(b []byte) (replication.Level, bool) {
	switch strings.ToLower(string(b)) {
	case "one":
		return replication.One, true
	case "quorum":
		return replication.Quorum, true
	case "all":
		return replication.All, true
	}
	return 0, false
}

// configParams are the parameters CONFIG GET answers: what benchmark
// tools and client libraries ask for.
func (s *Server) configParams() map[string]string {
	return map[string]string{
		"save":               "",
		"appendonly":         "no",
		"databases":          "1",
		"maxmemory":          "0",
		"maxclients":         strconv.Itoa(s.cfg.MaxClients),
		"timeout":            strconv.Itoa(int(s.cfg.IdleTimeout.Seconds())),
		"proto-max-bulk-len": strconv.Itoa(s.cfg.MaxCommandBytes),
		"cluster-enabled":    "no",
	}
}

func (c *conn) config(args [][]byte) string {
	if strings.ToUpper(string(args[1])) != "GET" {
		c.wr.Error("ERR CONFIG " + strings.ToUpper(printable(truncate(args[1], 32))) + " is not supported: quorumkv answers CONFIG GET only (its settings are kvnode's flags)")
		return OutcomeInvalid
	}
	if len(args) < 3 {
		c.wr.Error("ERR wrong number of arguments for 'config|get' command")
		return OutcomeInvalid
	}
	params := c.s.configParams()
	var names []string
	for name := range params {
		for _, pat := range args[2:] {
			if ok, _ := path.Match(strings.ToLower(string(pat)), name); ok {
				names = append(names, name)
				break
			}
		}
	}
	c.wr.Map(len(names))
	for _, n := range names {
		c.wr.BulkString(n)
		c.wr.BulkString(params[n])
	}
	return OutcomeOK
}
