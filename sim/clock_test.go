package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// fireAll fires every timer up to the last, advancing the clock.
func fireAll(c *Clock) {
	for {
		if c.FireDue() {
			continue
		}
		next, ok := c.Next()
		if !ok {
			return
		}
		c.AdvanceTo(next)
	}
}

func TestClock_TiesFireInArmingOrder(t *testing.T) {
	c := NewClock()
	var got []int
	for i := range 50 {
		c.AfterFunc(time.Second, func() { got = append(got, i) })
	}
	fireAll(c)
	want := make([]int, 50)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, got)
	assert.Equal(t, time.Second, c.Elapsed())
}

func TestClock_ResetMovesBehindTimersArmedEarlier(t *testing.T) {
	c := NewClock()
	var got []string
	a := c.AfterFunc(time.Second, func() { got = append(got, "a") })
	c.AfterFunc(time.Second, func() { got = append(got, "b") })
	a.Reset(time.Second) // re-armed last: fires after b
	fireAll(c)
	assert.Equal(t, []string{"b", "a"}, got)
}

func TestClock_StopAndReuse(t *testing.T) {
	c := NewClock()
	fired := 0
	tm := c.AfterFunc(time.Second, func() { fired++ })
	assert.True(t, tm.Stop(), "Stop of an armed timer")
	assert.False(t, tm.Stop(), "Stop of a stopped timer")
	_, ok := c.Next()
	assert.False(t, ok)
	tm.Reset(2 * time.Second)
	fireAll(c)
	assert.Equal(t, 1, fired)
	assert.Equal(t, 2*time.Second, c.Elapsed())
	assert.False(t, tm.Stop(), "Stop of a fired timer")
}

func TestClock_CallbacksMayArmTimersAndZeroDelayRunsWithoutGoroutine(t *testing.T) {
	c := NewClock()
	var at []time.Duration
	var tick func()
	tick = func() {
		at = append(at, c.Elapsed())
		if len(at) < 4 {
			c.AfterFunc(time.Duration(len(at)-1)*time.Millisecond, tick)
		}
	}
	c.AfterFunc(0, tick)
	fireAll(c)
	assert.Equal(t, []time.Duration{0, 0, time.Millisecond, 3 * time.Millisecond}, at)
}

func TestClock_TimeIsVirtual(t *testing.T) {
	c := NewClock()
	assert.Equal(t, Epoch, c.Now())
	c.AfterFunc(90*time.Minute, func() {})
	next, _ := c.Next()
	c.AdvanceTo(next)
	assert.Equal(t, Epoch.Add(90*time.Minute), c.Now())
	assert.Equal(t, 90*time.Minute, c.NowMonotonic().Sub(NewClock().NowMonotonic()))
	assert.Panics(t, func() { c.AfterFunc(time.Second, func() {}); c.AdvanceTo(c.Elapsed() + time.Hour) }, "jumping over a timer")
}
