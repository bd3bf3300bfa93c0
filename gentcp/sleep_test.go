package gentcp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestSleep: timer:sleep waits on the stack's clock, leaves the mailbox
// alone, and ends early when the process exits.
func TestSleep(t *testing.T) {
	e := newEnv(t)
	e.sp.Send("kept")
	start := time.Now()
	e.sp.Sleep(30 * time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	assert.Len(t, e.sp.Pending(), 1, "the mailbox is untouched")

	p := e.server.NewProcess()
	go func() {
		time.Sleep(20 * time.Millisecond)
		p.Exit()
	}()
	start = time.Now()
	p.Sleep(time.Minute)
	assert.Less(t, time.Since(start), 30*time.Second, "Sleep returns when the process exits")
}
