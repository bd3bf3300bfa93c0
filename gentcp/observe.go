package gentcp

import "strconv"

// CallObserver is an optional interface of a Scheduler: a scheduler that
// has it is told of every connect, listen, accept, send and recv of the
// node that returns an error, as the call returns, on the caller's
// goroutine (package sim marks them on the host's lane of a run's
// timeline). The calls of the net.Conn adapter are not reported.
type CallObserver interface {
	// CallFailed reports that a call failed with err. call names it and
	// what it was called on: "connect kv2:8", "recv #Port<0.7>".
	CallFailed(call string, err error)
}

// callFailed tells the node's scheduler that a call failed, if err is
// not nil and the scheduler observes calls; what names the call, and is
// built only then.
func (n *Node) callFailed(err error, what func() string) {
	if err == nil {
		return
	}
	if o, ok := n.sched.(CallObserver); ok {
		o.CallFailed(what(), err)
	}
}

// failed is callFailed for a call on s; it returns err.
func (s *Socket) failed(call string, err error) error {
	s.node.callFailed(err, func() string { return call + " " + s.String() })
	return err
}

// connectCall names a connect for CallFailed.
func connectCall(host string, port int) func() string {
	return func() string { return "connect " + host + ":" + strconv.Itoa(port) }
}
