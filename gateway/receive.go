package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgproto3/v2"
)

// frontendReader reads the frontend messages of an authenticated session.
// It is pgproto3's Backend.Receive with the extended protocol's per-
// statement messages decoded without allocating: pgproto3 gives every Bind
// fresh statement and portal name strings, parameter and format slices,
// and every Execute a fresh portal name (four allocations for a prepared
// lookup of one parameter, a fifth of its total). Here Bind and Execute
// reuse the previous message's slices and keep a name's string while the
// name repeats, which it does for a driver running one prepared statement
// on the unnamed portal. Decoded messages are valid until the next
// receive: the session copies what a portal keeps (format codes, values).
//
// The startup and authentication phase still read through the Backend,
// which shares this reader's chunk reader and has no partial message
// left when the session starts.
type frontendReader struct {
	cr pgproto3.ChunkReader

	msgType byte
	bodyLen int
	partial bool // the header was read, the body not (a read deadline interrupted it)

	bind     pgproto3.Bind
	execute  pgproto3.Execute
	parse    pgproto3.Parse
	describe pgproto3.Describe
	close    pgproto3.Close
	query    pgproto3.Query
	sync     pgproto3.Sync
	flush    pgproto3.Flush
	term     pgproto3.Terminate
	copyData pgproto3.CopyData
	copyDone pgproto3.CopyDone
	copyFail pgproto3.CopyFail
	fnCall   pgproto3.FunctionCall
}

// receive reads the next message, as pgproto3's Backend.Receive does
// (same errors for a truncated stream, a negative length or an unknown
// type).
func (r *frontendReader) receive() (pgproto3.FrontendMessage, error) {
	if !r.partial {
		header, err := r.cr.Next(5)
		if err != nil {
			return nil, eofIsUnexpected(err)
		}
		r.msgType = header[0]
		r.bodyLen = int(binary.BigEndian.Uint32(header[1:])) - 4
		r.partial = true
		if r.bodyLen < 0 {
			return nil, errors.New("invalid message with negative body length received")
		}
	}
	var msg pgproto3.FrontendMessage
	switch r.msgType {
	case 'B':
		msg = &r.bind
	case 'E':
		msg = &r.execute
	case 'P':
		msg = &r.parse
	case 'D':
		msg = &r.describe
	case 'C':
		msg = &r.close
	case 'Q':
		msg = &r.query
	case 'S':
		msg = &r.sync
	case 'H':
		msg = &r.flush
	case 'X':
		msg = &r.term
	case 'd':
		msg = &r.copyData
	case 'c':
		msg = &r.copyDone
	case 'f':
		msg = &r.copyFail
	case 'F':
		msg = &r.fnCall
	case 'p':
		// A password message outside authentication: decoded as
		// pgproto3 does without an authentication exchange running.
		msg = &pgproto3.PasswordMessage{}
	default:
		return nil, fmt.Errorf("unknown message type: %c", r.msgType)
	}
	body, err := r.cr.Next(r.bodyLen)
	if err != nil {
		return nil, eofIsUnexpected(err)
	}
	r.partial = false
	switch r.msgType {
	case 'B':
		err = decodeBind(&r.bind, body)
	case 'E':
		err = decodeExecute(&r.execute, body)
	default:
		err = msg.Decode(body)
	}
	return msg, err
}

// eofIsUnexpected is pgproto3's translation: a stream ending inside a
// message is io.ErrUnexpectedEOF, at a message boundary io.EOF stays.
func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// errBadBind and errBadExecute say what pgproto3's errors for malformed
// messages say (its invalidMessageFormatErr is unexported). pgproto3
// reports an Execute without its portal name's terminator as io.EOF, which
// would read as a client hanging up; here it is a malformed message.
var (
	errBadBind    = errors.New("Bind body is invalid")
	errBadExecute = errors.New("Execute body is invalid")
)

// decodeBind is pgproto3's Bind.Decode reusing dst: the same checks and
// the same result, with dst's slices and name strings reused. Parameter
// values alias src, as in pgproto3.
func decodeBind(dst *pgproto3.Bind, src []byte) error {
	idx := bytes.IndexByte(src, 0)
	if idx < 0 {
		return errBadBind
	}
	dst.DestinationPortal = reuseString(dst.DestinationPortal, src[:idx])
	rp := idx + 1
	idx = bytes.IndexByte(src[rp:], 0)
	if idx < 0 {
		return errBadBind
	}
	dst.PreparedStatement = reuseString(dst.PreparedStatement, src[rp:rp+idx])
	rp += idx + 1

	codes, rp, ok := readCodes(dst.ParameterFormatCodes[:0], src, rp)
	if !ok {
		return errBadBind
	}
	dst.ParameterFormatCodes = codes
	if len(codes) == 0 {
		dst.ParameterFormatCodes = nil // pgproto3 leaves an absent list nil
	}

	if len(src[rp:]) < 2 {
		return errBadBind
	}
	n := int(binary.BigEndian.Uint16(src[rp:]))
	rp += 2
	params := dst.Parameters[:0]
	for i := 0; i < n; i++ {
		if len(src[rp:]) < 4 {
			return errBadBind
		}
		size := int(int32(binary.BigEndian.Uint32(src[rp:])))
		rp += 4
		if size == -1 {
			params = append(params, nil)
			continue
		}
		if size < 0 || len(src[rp:]) < size {
			return errBadBind
		}
		params = append(params, src[rp:rp+size:rp+size])
		rp += size
	}
	dst.Parameters = params
	if n == 0 {
		dst.Parameters = nil
	}

	codes, _, ok = readCodes(dst.ResultFormatCodes[:0], src, rp)
	if !ok {
		return errBadBind
	}
	dst.ResultFormatCodes = codes // pgproto3 makes this one non-nil even when empty
	if dst.ResultFormatCodes == nil {
		dst.ResultFormatCodes = []int16{}
	}
	return nil
}

// readCodes reads a count and that many int16 format codes at src[rp:],
// appending them to dst.
func readCodes(dst []int16, src []byte, rp int) ([]int16, int, bool) {
	if len(src[rp:]) < 2 {
		return dst, rp, false
	}
	n := int(binary.BigEndian.Uint16(src[rp:]))
	rp += 2
	if len(src[rp:]) < 2*n {
		return dst, rp, false
	}
	for i := 0; i < n; i++ {
		dst = append(dst, int16(binary.BigEndian.Uint16(src[rp:])))
		rp += 2
	}
	return dst, rp, true
}

// decodeExecute is pgproto3's Execute.Decode keeping the portal name's
// string while it repeats.
func decodeExecute(dst *pgproto3.Execute, src []byte) error {
	idx := bytes.IndexByte(src, 0)
	if idx < 0 || len(src[idx+1:]) < 4 { // trailing bytes are ignored, as pgproto3 does
		return errBadExecute
	}
	dst.Portal = reuseString(dst.Portal, src[:idx])
	dst.MaxRows = binary.BigEndian.Uint32(src[idx+1:])
	return nil
}

// reuseString is string(b), without allocating when it equals prev.
func reuseString(prev string, b []byte) string {
	if prev == string(b) { // compared without converting
		return prev
	}
	return string(b)
}
