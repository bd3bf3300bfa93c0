package gentcp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// TestRecvHTTP_RequestHeadersBodyKeepAlive is an Erlang HTTP server's
// loop: {packet,http} reads the request line, then (the socket switches
// itself to header lines) the headers and http_eoh; {packet,raw} reads the
// body; {packet,http} again reads the next request's line.
func TestRecvHTTP_RequestHeadersBodyKeepAlive(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(append(passive, gentcp.PacketHTTP))
	require.NoError(t, a.Send([]byte("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.0\r\n\r\n")))

	var got []gentcp.HTTPPacket
	for range 4 {
		p, err := c.RecvHTTP(second)
		require.NoError(t, err)
		got = append(got, p)
	}
	assert.Equal(t, []gentcp.HTTPPacket{
		gentcp.HTTPRequest{Method: "POST", URI: gentcp.HTTPURI{Kind: gentcp.URIAbsPath, Path: "/a"}, Version: gentcp.HTTPVersion{Major: 1, Minor: 1}},
		gentcp.HTTPHeader{Field: "Host", UnmodifiedField: "Host", Value: "x"},
		gentcp.HTTPHeader{Field: "Content-Length", UnmodifiedField: "Content-Length", Value: "3"},
		gentcp.HTTPEOH{},
	}, got)
	assert.Equal(t, 38, got[2].(gentcp.HTTPHeader).Index())

	require.NoError(t, c.Setopts(gentcp.PacketRaw))
	body, err := c.Recv(3, second)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(body.Bytes))

	require.NoError(t, c.Setopts(gentcp.PacketHTTP))
	p, err := c.RecvHTTP(second)
	require.NoError(t, err)
	assert.Equal(t, `{http_request,'GET',{abs_path,"/b"},{1,0}}`, p.String())
	p, err = c.RecvHTTP(second)
	require.NoError(t, err)
	assert.Equal(t, gentcp.HTTPEOH{}, p)
}

// TestRecvHTTP_WrongCall: Recv on an HTTP socket and RecvHTTP on another
// are einval and take nothing, as is a length with an HTTP type.
func TestRecvHTTP_WrongCall(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(append(passive, gentcp.PacketHTTPBin))
	require.NoError(t, a.Send([]byte("HTTP/1.1 200 OK\r\n")))
	_, err := c.Recv(0, second)
	assert.ErrorIs(t, err, gentcp.Einval)
	_, err = c.Recv(3, second)
	assert.ErrorIs(t, err, gentcp.Einval)
	p, err := c.RecvHTTP(second)
	require.NoError(t, err)
	assert.Equal(t, `{http_response,{1,1},200,<<"OK">>}`, p.String())

	require.NoError(t, c.Setopts(gentcp.PacketLine))
	_, err = c.RecvHTTP(0)
	assert.ErrorIs(t, err, gentcp.Einval)
}

// TestActiveHTTP_Messages: an active http_bin socket sends {http,S,Packet}
// for each line, then tcp_closed; a partial line at the close is dropped.
func TestActiveHTTP_Messages(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected([]gentcp.Option{gentcp.Binary, gentcp.PacketHTTPHBin, gentcp.Active(true)})
	require.NoError(t, a.Send([]byte("Server: y\r\nbad\r\n\r\nServer: z")))
	require.NoError(t, a.Close())
	var got []string
	for {
		m, err := e.cp.Receive(2 * second)
		require.NoError(t, err)
		if _, ok := m.(gentcp.TCPClosed); ok {
			break
		}
		h, ok := m.(gentcp.HTTP)
		require.True(t, ok, "message %#v", m)
		assert.Same(t, c, h.Socket)
		got = append(got, h.Packet.String())
	}
	assert.Equal(t, []string{
		`{http_header,30,'Server',<<"Server">>,<<"y">>}`,
		`{http_error,<<"bad\r\n">>}`,
		`http_eoh`,
	}, got)
}

// TestRecvHTTP_LineAboveBuffer: with packet_size 0 a line longer than the
// buffer option is emsgsize and the socket closes, as in OTP.
func TestRecvHTTP_LineAboveBuffer(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(append(passive, gentcp.PacketHTTP, gentcp.Buffer(40)))
	require.NoError(t, a.Send([]byte("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n")))
	_, err := c.RecvHTTP(second)
	assert.True(t, errors.Is(err, gentcp.Emsgsize), "got %v", err)
	_, err = c.RecvHTTP(second)
	assert.ErrorIs(t, err, gentcp.Enotconn)
}

// TestRecvHTTP_TypeChangedWhileWaiting: a RecvHTTP waiting on an empty
// socket when Setopts leaves the HTTP types returns einval and takes
// nothing; the line is Recv's under the new type.
func TestRecvHTTP_TypeChangedWhileWaiting(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(append(passive, gentcp.PacketHTTP))
	done := make(chan error, 1)
	go func() {
		_, err := c.RecvHTTP(2 * second)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it wait (if not, recv's first check gives the same)
	require.NoError(t, c.Setopts(gentcp.PacketLine))
	require.NoError(t, a.Send([]byte("GET / HTTP/1.1\r\n")))
	assert.ErrorIs(t, <-done, gentcp.Einval)
	d, err := c.Recv(0, second)
	require.NoError(t, err)
	assert.Equal(t, "GET / HTTP/1.1\r\n", string(d.Bytes))
}
