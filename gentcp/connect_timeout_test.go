package gentcp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
)

// connectSlack is how far past its timeout a connect may return: generous
// for a loaded machine under -race, far below the stall the test makes.
const connectSlack = 2 * time.Second

// TestConnectTimeoutIsAPromise: connects with a 200 ms timeout while the
// client's link is stalled (held, its queue of 4 frames full, so netstack
// waits to send the SYN, or the RST of the connect it aborts) each return
// timeout within connectSlack of their timeout; the stall lasts 20 s. A
// connect used to return only when netstack's send did (issue 18: a
// 400 ms connect returned after 809 ms while the link's queue was full).
func TestConnectTimeoutIsAPromise(t *testing.T) {
	e := newEnvWith(t, memlink.Options{QueueFrames: 4})
	_, port := e.listen()
	e.pair.LinkB.Hold()
	const stall = 20 * time.Second
	released := make(chan struct{})
	release := time.AfterFunc(stall, func() {
		e.pair.LinkB.Release()
		close(released)
	})
	defer func() {
		if release.Stop() {
			e.pair.LinkB.Release()
		} else {
			<-released
		}
	}()
	const timeout = 200 * time.Millisecond
	// More connects than the held queue has room for SYNs and RSTs.
	for i := range 8 {
		start := time.Now()
		_, err := e.cp.Connect("10.0.0.1", port, timeout)
		took := time.Since(start)
		require.True(t, errors.Is(err, gentcp.Timeout), "connect %d: %v", i, err)
		require.Less(t, took, timeout+connectSlack, "connect %d with a %v timeout took %v on a stalled link", i, timeout, took)
		t.Logf("connect %d: timeout after %v", i, took)
	}
}
