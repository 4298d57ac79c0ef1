package ring

import (
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// token is one point a member owns on the 64-bit ring.
type token struct {
	pos    uint64
	member int32 // index into Ring.members
}

// appendTokens appends the vnodes tokens of the member with the given
// token seed (its id, or the id it replaced: Member.tokenSeed) and index to
// dst. Token i sits at xxhash64(seed + "/" + decimal(i)): it depends on the
// seed and i only, so every node derives the same tokens, raising a
// member's vnodes keeps its existing tokens, and a replacer gets exactly
// the tokens of the member it replaced.
func appendTokens(dst []token, id string, member int32, vnodes int) []token {
	buf := make([]byte, 0, len(id)+1+20)
	buf = append(buf, id...)
	buf = append(buf, '/')
	prefix := len(buf)
	for i := range vnodes {
		buf = strconv.AppendInt(buf[:prefix], int64(i), 10)
		dst = append(dst, token{pos: xxhash.Sum64(buf), member: member})
	}
	return dst
}
