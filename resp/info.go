package resp

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// infoSections are INFO's sections, in order.
var infoSections = []string{"server", "clients", "keyspace", "cluster"}

func (c *conn) info(args [][]byte) string {
	want := map[string]bool{}
	for _, a := range args[1:] {
		switch s := strings.ToLower(string(a)); s {
		case "all", "default", "everything":
			for _, n := range infoSections {
				want[n] = true
			}
		default:
			want[s] = true
		}
	}
	if len(args) == 1 {
		for _, n := range infoSections {
			want[n] = true
		}
	}
	var b strings.Builder
	for _, sec := range infoSections {
		if !want[sec] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "# %s\r\n", strings.ToUpper(sec[:1])+sec[1:])
		switch sec {
		case "server":
			c.s.infoServer(&b, c.wr.proto)
		case "clients":
			c.s.infoClients(&b)
		case "keyspace":
			c.s.infoKeyspace(&b)
		case "cluster":
			c.s.infoCluster(&b)
		}
	}
	c.wr.Verbatim(b.String())
	return OutcomeOK
}

func (s *Server) infoServer(b *strings.Builder, _ int) {
	up := time.Since(s.started)
	port := ""
	s.mu.Lock()
	if s.lis != nil {
		addr := s.lis.Addr().String()
		port = addr[strings.LastIndexByte(addr, ':')+1:]
	}
	s.mu.Unlock()
	fmt.Fprintf(b, "redis_version:7.0.0\r\n") // what clients compare features against
	fmt.Fprintf(b, "quorumkv_version:%s\r\n", s.cfg.Version)
	fmt.Fprintf(b, "redis_mode:standalone\r\nos:%s %s\r\narch_bits:64\r\n", runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(b, "go_version:%s\r\nprocess_id:%d\r\ntcp_port:%s\r\n", runtime.Version(), os.Getpid(), port)
	fmt.Fprintf(b, "uptime_in_seconds:%d\r\nuptime_in_days:%d\r\n", int(up.Seconds()), int(up.Hours()/24))
	fmt.Fprintf(b, "node_id:%s\r\nconflict_policy:%s\r\n", s.cfg.NodeID, s.cfg.Conflict)
	fmt.Fprintf(b, "default_read_consistency:%s\r\ndefault_write_consistency:%s\r\n",
		strings.ToLower(s.cfg.ReadLevel.String()), strings.ToLower(s.cfg.WriteLevel.String()))
}

func (s *Server) infoClients(b *strings.Builder) {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	fmt.Fprintf(b, "connected_clients:%d\r\nmaxclients:%d\r\n", n, s.cfg.MaxClients)
	fmt.Fprintf(b, "total_connections_received:%d\r\nrejected_connections:%d\r\ntotal_commands_processed:%d\r\n",
		s.stats.connections.Load(), s.stats.rejected.Load(), s.stats.commands.Load())
}

func (s *Server) infoKeyspace(b *strings.Builder) {
	if s.cfg.Cluster == nil {
		return
	}
	keys, tombstones := s.cfg.Cluster.Keys()
	// The keys this node stores as a replica, not the cluster's.
	fmt.Fprintf(b, "db0:keys=%d,expires=0,avg_ttl=0,tombstones=%d\r\n", keys, tombstones)
}

func (s *Server) infoCluster(b *strings.Builder) {
	b.WriteString("cluster_enabled:0\r\n") // not the Redis Cluster protocol
	if s.cfg.Cluster == nil {
		return
	}
	members := s.cfg.Cluster.Members()
	own := 0.0
	for _, m := range members {
		if m.ID == s.cfg.NodeID {
			own = m.Ownership
		}
	}
	fmt.Fprintf(b, "quorumkv_node_id:%s\r\nquorumkv_ownership:%s\r\nquorumkv_members:%d\r\n",
		s.cfg.NodeID, strconv.FormatFloat(own, 'f', 4, 64), len(members))
	for i, m := range members {
		fmt.Fprintf(b, "member%d:id=%s,addr=%s,state=%s,ring_state=%s,ownership=%s\r\n", i, m.ID, m.GRPCAddr, m.Liveness, m.RingState,
			strconv.FormatFloat(m.Ownership, 'f', 4, 64))
	}
}

// commandCmd answers COMMAND, COMMAND COUNT, COMMAND LIST, COMMAND INFO
// and COMMAND DOCS.
func (c *conn) commandCmd(args [][]byte) string {
	all := c.s.sortedCommands()
	pick := func(names [][]byte) []*command {
		if len(names) == 0 {
			return all
		}
		var out []*command
		for _, n := range names {
			if cmd, ok := c.s.commands[strings.ToLower(string(n))]; ok {
				out = append(out, cmd)
			} else {
				out = append(out, nil)
			}
		}
		return out
	}
	if len(args) == 1 {
		c.wr.Array(len(all))
		for _, cmd := range all {
			c.commandInfo(cmd)
		}
		return OutcomeOK
	}
	switch strings.ToUpper(string(args[1])) {
	case "COUNT":
		c.wr.Int(len(all))
	case "LIST":
		c.wr.Array(len(all))
		for _, cmd := range all {
			c.wr.BulkString(cmd.name)
		}
	case "INFO":
		cmds := pick(args[2:])
		c.wr.Array(len(cmds))
		for _, cmd := range cmds {
			if cmd == nil {
				c.wr.NullArray()
			} else {
				c.commandInfo(cmd)
			}
		}
	case "DOCS":
		var cmds []*command
		for _, cmd := range pick(args[2:]) {
			if cmd != nil {
				cmds = append(cmds, cmd)
			}
		}
		c.wr.Map(len(cmds))
		for _, cmd := range cmds {
			c.wr.BulkString(cmd.name)
			c.commandDocs(cmd)
		}
	default:
		c.wr.Error("ERR unknown subcommand '" + printable(truncate(args[1], 64)) + "'. Try COMMAND COUNT, DOCS, INFO, LIST.")
		return OutcomeInvalid
	}
	return OutcomeOK
}

// commandInfo writes a command's COMMAND entry (Redis 7's ten fields).
func (c *conn) commandInfo(cmd *command) {
	c.wr.Array(10)
	c.wr.BulkString(cmd.name)
	c.wr.Int(cmd.arity)
	c.wr.Set(len(cmd.flags))
	for _, f := range cmd.flags {
		c.wr.Simple(f)
	}
	c.wr.Int(cmd.keys[0])
	c.wr.Int(cmd.keys[1])
	c.wr.Int(cmd.keys[2])
	c.wr.Set(1)
	c.wr.Simple("@" + cmd.group)
	c.wr.Set(0) // tips
	c.wr.Array(0)
	c.wr.Array(0) // key specs, subcommands
}

// commandDocs writes a command's COMMAND DOCS entry: what redis-cli needs
// for its hints.
func (c *conn) commandDocs(cmd *command) {
	c.wr.Map(5)
	c.wr.BulkString("summary")
	c.wr.BulkString(cmd.summary)
	c.wr.BulkString("since")
	c.wr.BulkString("1.0.0")
	c.wr.BulkString("group")
	c.wr.BulkString(cmd.group)
	c.wr.BulkString("complexity")
	c.wr.BulkString("O(N) for N keys or members")
	c.wr.BulkString("arguments")
	c.wr.Array(len(cmd.args))
	for _, a := range cmd.args {
		var flags []string
		if a.optional {
			flags = append(flags, "optional")
		}
		if a.multiple {
			flags = append(flags, "multiple")
		}
		n := 2
		if a.token != "" {
			n++
		}
		if len(flags) > 0 {
			n++
		}
		c.wr.Map(n)
		c.wr.BulkString("name")
		c.wr.BulkString(a.name)
		c.wr.BulkString("type")
		c.wr.BulkString(a.typ)
		if a.token != "" {
			c.wr.BulkString("token")
			c.wr.BulkString(a.token)
		}
		if len(flags) > 0 {
			c.wr.BulkString("flags")
			c.wr.Set(len(flags))
			for _, f := range flags {
				c.wr.Simple(f)
			}
		}
	}
}
