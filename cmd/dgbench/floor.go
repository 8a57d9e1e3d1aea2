package main

import (
	"bufio"
	"bytes"
	bin "encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"

	"github.com/dualgate/dualgate/gateway"
)

// The protocol floor: a reference target that says how fast any Go server
// can answer the point-lookup script on this machine, so the serving bar's
// ratio can be read against what is possible here, not only against the
// goal. It is a separate process (this binary, re-executed with
// -serve-protocol-floor) that speaks just enough of the extended protocol
// for pgbench -M prepared: every Execute answers one row built from the
// Bind's first parameter (id, "value-"+id, id), with no lookup, no labels,
// no audit, no allocation per message. It runs with the Go processors
// `dualgate serve` gives itself and reads and writes through the same
// netpoller and the same buffered one-write-per-Sync pattern as the
// gateway; what it costs per transaction is the runtime's and the kernel's
// share of a lookup, which no serving store can remove.

// floorListenerFD is the descriptor the parent passes the listening socket
// on (ExtraFiles[0]), so the child never races for a port.
const floorListenerFD = 3

var serveFloor = flag.Bool("serve-protocol-floor", false, "internal: serve the protocol-floor target on the listener passed as descriptor 3 until killed")

// startFloor starts the protocol-floor process on a loopback port.
func startFloor() (target, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return target{}, nil, err
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return target{}, nil, err
	}
	defer f.Close()
	self, err := os.Executable()
	if err != nil {
		return target{}, nil, err
	}
	cmd := exec.Command(self, "-serve-protocol-floor")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	// It dies with dgbench, however dgbench ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return target{}, nil, fmt.Errorf("start protocol floor: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	t := target{name: "protocol-floor", host: "127.0.0.1", port: ln.Addr().(*net.TCPAddr).Port,
		user: "bench", db: "floor", cpu: procCPU(cmd.Process.Pid, false)}
	return t, stop, nil
}

// runFloor is the child's side: serve connections on the inherited
// listener until the parent kills the process.
func runFloor() error {
	gateway.SetProcessors(0)
	ln, err := net.FileListener(os.NewFile(floorListenerFD, "protocol-floor listener"))
	if err != nil {
		return fmt.Errorf("protocol floor listener: %w", err)
	}
	return serveFloorOn(ln)
}

// serveFloorOn answers every connection ln accepts until it is closed.
func serveFloorOn(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_ = floorConn(c, c)
		}()
	}
}

// floorRowDescription describes the script's three columns (id int8, val
// text, n int8), as serving.kv_view's lookup does.
var floorRowDescription = func() []byte {
	b := []byte{0, 3}
	for _, col := range []struct {
		name string
		oid  uint32
		size int16
	}{{"id", 20, 8}, {"val", 25, -1}, {"n", 20, 8}} {
		b = append(b, col.name...)
		b = append(b, 0)
		b = bin.BigEndian.AppendUint32(b, 0) // table OID
		b = bin.BigEndian.AppendUint16(b, 0) // attribute number
		b = bin.BigEndian.AppendUint32(b, col.oid)
		b = bin.BigEndian.AppendUint16(b, uint16(col.size))
		b = bin.BigEndian.AppendUint32(b, 0xffffffff) // typmod -1
		b = bin.BigEndian.AppendUint16(b, 0)          // text
	}
	return b
}()

// errFloorProtocol reports a message the floor does not answer.
var errFloorProtocol = errors.New("protocol floor: unexpected message")

// floorConn serves one connection: the startup handshake (no SSL, no
// password), then Parse, Bind, Describe, Execute, Sync, Close, Flush,
// simple Query (answered empty) and Terminate.
func floorConn(r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 8192)
	bw := bufio.NewWriterSize(w, 8192)
	var hdr [5]byte
	body := make([]byte, 0, 1024)
	read := func(n int) ([]byte, error) {
		if n < 0 || n > 1<<20 {
			return nil, fmt.Errorf("%w: length %d", errFloorProtocol, n)
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		_, err := io.ReadFull(br, body)
		return body, err
	}
	for {
		if _, err := io.ReadFull(br, hdr[:4]); err != nil {
			return err
		}
		m, err := read(int(bin.BigEndian.Uint32(hdr[:4])) - 4)
		if err != nil {
			return err
		}
		if len(m) >= 4 && bin.BigEndian.Uint32(m) == 80877103 { // SSLRequest
			if err := bw.WriteByte('N'); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			continue
		}
		break
	}
	put := func(typ byte, payload ...[]byte) {
		n := 4
		for _, p := range payload {
			n += len(p)
		}
		_ = bw.WriteByte(typ)
		var l [4]byte
		bin.BigEndian.PutUint32(l[:], uint32(n))
		_, _ = bw.Write(l[:])
		for _, p := range payload {
			_, _ = bw.Write(p)
		}
	}
	put('R', []byte{0, 0, 0, 0}) // AuthenticationOk
	for _, kv := range [][2]string{{"server_version", "15.0 (protocol floor)"}, {"server_encoding", "UTF8"},
		{"client_encoding", "UTF8"}, {"DateStyle", "ISO, MDY"}, {"integer_datetimes", "on"},
		{"standard_conforming_strings", "on"}} {
		put('S', []byte(kv[0]+"\x00"+kv[1]+"\x00"))
	}
	put('K', make([]byte, 8)) // BackendKeyData
	put('Z', []byte{'I'})
	if err := bw.Flush(); err != nil {
		return err
	}
	var (
		params  = 0 // $n of the last Parse
		key     []byte
		row     []byte
		n4      [4]byte
		value   = []byte("value-")
		selectC = []byte("SELECT 1\x00")
	)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		m, err := read(int(bin.BigEndian.Uint32(hdr[1:])) - 4)
		if err != nil {
			return err
		}
		switch hdr[0] {
		case 'P':
			params = maxPlaceholder(m)
			put('1')
		case 'B':
			key = append(key[:0], bindFirstParam(m)...)
			put('2')
		case 'D':
			if len(m) > 0 && m[0] == 'S' {
				pd := bin.BigEndian.AppendUint16(nil, uint16(params))
				for i := 0; i < params; i++ {
					pd = bin.BigEndian.AppendUint32(pd, 20)
				}
				put('t', pd)
			}
			put('T', floorRowDescription)
		case 'E':
			row = bin.BigEndian.AppendUint16(row[:0], 3)
			for _, col := range [][][]byte{{key}, {value, key}, {key}} {
				n := 0
				for _, p := range col {
					n += len(p)
				}
				bin.BigEndian.PutUint32(n4[:], uint32(n))
				row = append(row, n4[:]...)
				for _, p := range col {
					row = append(row, p...)
				}
			}
			put('D', row)
			put('C', selectC)
		case 'C':
			put('3')
		case 'H':
			if err := bw.Flush(); err != nil {
				return err
			}
		case 'S':
			put('Z', []byte{'I'})
			if err := bw.Flush(); err != nil {
				return err
			}
		case 'Q':
			put('I')
			put('Z', []byte{'I'})
			if err := bw.Flush(); err != nil {
				return err
			}
		case 'X':
			return nil
		default:
			return fmt.Errorf("%w %q", errFloorProtocol, hdr[0])
		}
	}
}

// maxPlaceholder is the highest $n in a Parse message's query.
func maxPlaceholder(parse []byte) int {
	max := 0
	if i := bytes.IndexByte(parse, 0); i >= 0 { // statement name
		parse = parse[i+1:]
	}
	if i := bytes.IndexByte(parse, 0); i >= 0 { // the query ends here
		parse = parse[:i]
	}
	for i := 0; i < len(parse); i++ {
		if parse[i] != '$' {
			continue
		}
		n := 0
		for i++; i < len(parse) && parse[i] >= '0' && parse[i] <= '9'; i++ {
			n = n*10 + int(parse[i]-'0')
		}
		if n > max {
			max = n
		}
	}
	return max
}

// bindFirstParam is the first parameter's value of a Bind message (nil if
// it has none or it is NULL).
func bindFirstParam(b []byte) []byte {
	skipString := func() bool {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i == len(b) {
			return false
		}
		b = b[i+1:]
		return true
	}
	if !skipString() || !skipString() || len(b) < 2 { // portal, statement
		return nil
	}
	formats := int(bin.BigEndian.Uint16(b))
	if len(b) < 2+2*formats+2 {
		return nil
	}
	b = b[2+2*formats:]
	if bin.BigEndian.Uint16(b) == 0 || len(b) < 6 {
		return nil
	}
	n := int(int32(bin.BigEndian.Uint32(b[2:])))
	if n < 0 || len(b) < 6+n {
		return nil
	}
	return b[6 : 6+n]
}
