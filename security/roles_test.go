package security

import "testing"

func TestRule_roleDecisions(t *testing.T) {
	kv := func(m string) string { return "/quorumkv.v1.KV/" + m }
	rep := func(m string) string { return "/quorumkv.v1.Replica/" + m }
	for name, tc := range map[string]struct {
		method string
		role   Role
		want   bool
	}{
		"read gets":              {kv("Get"), RoleRead, true},
		"read smembers":          {kv("SetMembers"), RoleRead, true},
		"read ring":              {kv("Ring"), RoleRead, true},
		"read ring table":        {kv("RingTable"), RoleRead, true},
		"read members":           {kv("Members"), RoleRead, true},
		"read status":            {kv("Status"), RoleRead, true},
		"read cannot put":        {kv("Put"), RoleRead, false},
		"read cannot delete":     {kv("Delete"), RoleRead, false},
		"read cannot sadd":       {kv("SetAdd"), RoleRead, false},
		"read cannot srem":       {kv("SetRemove"), RoleRead, false},
		"write puts":             {kv("Put"), RoleWrite, true},
		"write deletes":          {kv("Delete"), RoleWrite, true},
		"write sadds":            {kv("SetAdd"), RoleWrite, true},
		"write srems":            {kv("SetRemove"), RoleWrite, true},
		"write gets":             {kv("Get"), RoleWrite, true},
		"write cannot repair":    {kv("Repair"), RoleWrite, false},
		"write cannot leave":     {kv("Leave"), RoleWrite, false},
		"write cannot remove":    {kv("Remove"), RoleWrite, false},
		"admin repairs":          {kv("Repair"), RoleAdmin, true},
		"admin leaves":           {kv("Leave"), RoleAdmin, true},
		"admin removes":          {kv("Remove"), RoleAdmin, true},
		"admin puts":             {kv("Put"), RoleAdmin, true},
		"write cannot backup":    {kv("Backup"), RoleWrite, false},
		"admin backs up":         {kv("Backup"), RoleAdmin, true},
		"unknown KV is admin":    {kv("Compact"), RoleAdmin, true},
		"write no unknown KV":    {kv("Compact"), RoleWrite, false},
		"admin cannot replicate": {rep("Exchange"), RoleAdmin, false},
		"admin cannot fetch":     {rep("FetchObjects"), RoleAdmin, false},
		"node replicates":        {rep("Exchange"), RoleNode, true},
		"node joins":             {rep("Join"), RoleNode, true},
		"node streams":           {rep("StreamPartition"), RoleNode, true},
		"node does client work":  {kv("Put"), RoleNode, true},
		"node repairs":           {kv("Repair"), RoleNode, true},
		"other service denied":   {"/grpc.health.v1.Health/Check", RoleNode, false},
		"malformed denied":       {"nonsense", RoleNode, false},
		"no role denied":         {kv("Get"), RoleNone, false},
	} {
		t.Run(name, func(t *testing.T) {
			need, _, ok := Rule(tc.method)
			if got := ok && Allowed(tc.role, need); got != tc.want {
				t.Fatalf("%s as %s: allowed %v, want %v (needs %s)", tc.method, tc.role, got, tc.want, need)
			}
		})
	}
}
