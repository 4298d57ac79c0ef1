package node

import (
	"crypto/sha256"
	"hash"

	"google.golang.org/grpc"

	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// backupChunkBytes is the size of the chunks a backup is streamed in.
const backupChunkBytes = 1 << 20

// Backup streams a consistent snapshot of the data file, taken in one
// storage read transaction, in chunks of backupChunkBytes, then the
// trailer with the length and SHA-256 of the bytes sent. The read
// transaction stays open while the client reads the stream.
func (s *kvServer) Backup(_ *pb.BackupRequest, stream grpc.ServerStreamingServer[pb.BackupResponse]) error {
	w := &backupSender{stream: stream, buf: make([]byte, 0, backupChunkBytes), sum: sha256.New()}
	n, err := s.n.store.Snapshot(w)
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		if st := stream.Context().Err(); st != nil {
			return toStatus(st, nil)
		}
		return toStatus(err, nil)
	}
	s.n.log.Info("backup sent", "bytes", n)
	return stream.Send(&pb.BackupResponse{Part: &pb.BackupResponse_Trailer{Trailer: &pb.BackupTrailer{
		Length: uint64(n), Sha256: w.sum.Sum(nil), NodeId: s.n.cfg.NodeID,
	}}})
}

// backupSender is the io.Writer a snapshot is written to: it sends full
// chunks on the stream and hashes what it sends.
type backupSender struct {
	stream grpc.ServerStreamingServer[pb.BackupResponse]
	buf    []byte
	sum    hash.Hash
}

func (b *backupSender) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		k := min(len(p)-written, backupChunkBytes-len(b.buf))
		b.buf = append(b.buf, p[written:written+k]...)
		written += k
		if len(b.buf) == backupChunkBytes {
			if err := b.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// flush sends the buffered bytes, if any, as one chunk. A message must not
// change once sent, so the next chunk gets a new buffer.
func (b *backupSender) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	b.sum.Write(b.buf)
	if err := b.stream.Send(&pb.BackupResponse{Part: &pb.BackupResponse_Chunk{Chunk: b.buf}}); err != nil {
		return err
	}
	b.buf = make([]byte, 0, backupChunkBytes)
	return nil
}
