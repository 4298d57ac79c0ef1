package node

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReadGossipKeys(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	b64 := base64.StdEncoding.EncodeToString
	tests := map[string]struct {
		file    string
		want    [][]byte
		wantErr bool
	}{
		"one key":            {file: b64(k1) + "\n", want: [][]byte{k1}},
		"primary first":      {file: b64(k2) + "\n\n" + b64(k1), want: [][]byte{k2, k1}},
		"empty":              {file: "\n", wantErr: true},
		"not base64":         {file: "%%%\n", wantErr: true},
		"short key":          {file: b64(k1[:16]) + "\n", wantErr: true},
		"the same key twice": {file: b64(k1) + "\n" + b64(k1) + "\n", wantErr: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readGossipKeys(path)
			var fe *FlagError
			if tt.wantErr {
				if !errors.As(err, &fe) || fe.Flag != "gossip-key-file" {
					t.Fatalf("err = %v, want a gossip-key-file flag error", err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %d keys, %v", len(got), err)
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Fatalf("key %d differs", i)
				}
			}
		})
	}
	if _, err := readGossipKeys(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing file is accepted")
	}
}
