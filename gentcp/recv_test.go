package gentcp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

func TestConnectAcceptEcho(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(passive, passive...)
	require.NoError(t, c.Send([]byte("hello")))
	d, err := a.Recv(5, second)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(d.Bytes))
	require.NoError(t, a.Send(d.Bytes))
	d, err = c.Recv(0, second)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(d.Bytes))
	require.NoError(t, c.Close())
	require.NoError(t, a.Close())
}

func TestRecvLenPeerClosesShort(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(passive, passive...)
	require.NoError(t, c.Send([]byte("ab")))
	require.NoError(t, c.Close())
	_, err := a.Recv(5, second)
	assert.Equal(t, gentcp.Closed, err)
	_, err = a.Recv(0, second)
	assert.Equal(t, gentcp.Enotconn, err)
}

func TestRecvTimeoutKeepsData(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(passive, passive...)
	require.NoError(t, c.Send([]byte("abc")))
	_, err := a.Recv(5, 100*time.Millisecond)
	assert.Equal(t, gentcp.Timeout, err)
	require.NoError(t, c.Send([]byte("de")))
	d, err := a.Recv(5, second)
	require.NoError(t, err)
	assert.Equal(t, "abcde", string(d.Bytes))
}
