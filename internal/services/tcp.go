package services

import (
	"errors"

	"github.com/usertcp/usertcp/gentcp"
)

// Echo sends back what c receives until the peer closes its side, then
// closes c (after the echo has gone out). It returns nil when the peer
// closed, and the error of the recv or send that failed otherwise. c must
// be passive (active false) and owned by the calling process.
func Echo(c *gentcp.Socket) error {
	return recvUntilPeerCloses(c, func(d gentcp.Data) error { return c.Send(d.Bytes) })
}

// Discard reads and drops everything c receives until the peer closes its
// side, then closes c. It returns nil when the peer closed, and the
// recv's error otherwise. c must be passive and owned by the calling
// process. Each read's Data is released, so a bulk sender's reads reuse
// pooled arrays instead of allocating one each.
func Discard(c *gentcp.Socket) error {
	return recvUntilPeerCloses(c, func(d gentcp.Data) error { d.Release(); return nil })
}

// recvUntilPeerCloses is the loop of Echo and Discard: it hands each read
// of c to handle until the peer closes its side, then closes c. It returns
// nil when the peer closed, and otherwise the error of the recv or of
// handle, which ends the loop.
func recvUntilPeerCloses(c *gentcp.Socket, handle func(gentcp.Data) error) error {
	defer c.Close()
	for {
		d, err := c.Recv(0, gentcp.Infinity)
		if errors.Is(err, gentcp.Closed) {
			return nil
		} else if err != nil {
			return err
		}
		if err := handle(d); err != nil {
			return err
		}
	}
}
