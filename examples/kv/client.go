package kv

import (
	"fmt"
	"strings"
	"time"

	"github.com/usertcp/usertcp/gentcp"
)

// Client is a process's connection to the store: it keeps a connection
// to each node it talked to and sends each request to the node it
// believes leads. When that node does not answer within Timeout, or
// answers "notprimary" or "unavailable", it tries the next one in
// succession after RetryPause, up to Attempts times.
type Client struct {
	p     *gentcp.Process
	conns map[string]*gentcp.Socket
	cur   int // the index in Nodes of the node it believes leads

	// Timeout bounds each step of a request (connect, reply).
	Timeout time.Duration
	// RetryPause is the wait before trying the next node.
	RetryPause time.Duration
	// Attempts is how many times a request is tried.
	Attempts int
}

// NewClient returns a client for process p, with a 100 ms Timeout, a
// 50 ms RetryPause and 40 Attempts.
func NewClient(p *gentcp.Process) *Client {
	return &Client{p: p, conns: map[string]*gentcp.Socket{},
		Timeout: 100 * time.Millisecond, RetryPause: 50 * time.Millisecond, Attempts: 40}
}

// Leader returns the node the client believes leads.
func (c *Client) Leader() string { return Nodes[c.cur] }

// Put stores v under k. It returns nil once a primary acknowledged the
// write, ErrUnavailable if none did.
func (c *Client) Put(k, v string) error {
	_, err := c.request("put "+k+" "+v, "ok")
	return err
}

// Get returns the value of k as the primary has it; found is false if
// the primary has no such key.
func (c *Client) Get(k string) (v string, found bool, err error) {
	reply, err := c.request("get "+k, "val ", "none")
	if err != nil {
		return "", false, err
	}
	v, found = strings.CutPrefix(reply, "val ")
	return v, found, nil
}

// Close closes the client's connections.
func (c *Client) Close() {
	for _, s := range c.conns {
		s.Close()
	}
	clear(c.conns)
}

// request sends req until a node gives a reply starting with one of
// wants.
func (c *Client) request(req string, wants ...string) (string, error) {
	for range c.Attempts {
		reply, err := c.call(Nodes[c.cur], req)
		if err == nil {
			for _, w := range wants {
				if strings.HasPrefix(reply, w) {
					return reply, nil
				}
			}
		}
		c.cur = (c.cur + 1) % len(Nodes)
		c.p.Sleep(c.RetryPause)
	}
	return "", fmt.Errorf("%w: %s", ErrUnavailable, req)
}

// call sends req to node and returns its reply. A connection that failed
// is closed, so that a late reply to one request is never taken for the
// reply to the next.
func (c *Client) call(node, req string) (string, error) {
	s := c.conns[node]
	if s == nil {
		var err error
		s, err = c.p.Connect(node, ClientPort, c.Timeout, gentcp.Binary, gentcp.Packet(4), gentcp.Nodelay(true), gentcp.Active(false))
		if err != nil {
			return "", err
		}
		c.conns[node] = s
	}
	err := s.Send([]byte(req))
	var d gentcp.Data
	if err == nil {
		d, err = s.Recv(0, c.Timeout)
	}
	if err != nil {
		s.Close()
		delete(c.conns, node)
		return "", err
	}
	return string(d.Bytes), nil
}
