package node

import (
	"bytes"
	"encoding/base64"
	"os"

	"github.com/quorumkv/quorumkv/cluster"
)

// readGossipKeys reads --gossip-key-file: one base64 key of
// cluster.GossipKeySize bytes per line, the first one primary; blank lines
// are skipped. A file that cannot be read or holds a bad key is a flag
// error naming the line.
func readGossipKeys(path string) ([][]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, flagErr("gossip-key-file", "%v", err)
	}
	var keys [][]byte
	for i, line := range bytes.Split(raw, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil {
			return nil, flagErr("gossip-key-file", "%s line %d: not base64: %v", path, i+1, err)
		}
		if len(k) != cluster.GossipKeySize {
			return nil, flagErr("gossip-key-file", "%s line %d: key has %d bytes, want %d", path, i+1, len(k), cluster.GossipKeySize)
		}
		for _, o := range keys {
			if bytes.Equal(o, k) {
				return nil, flagErr("gossip-key-file", "%s line %d: the key appears twice", path, i+1)
			}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, flagErr("gossip-key-file", "%s holds no key", path)
	}
	return keys, nil
}
