package otp_test

import (
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// This file is the Go half of the differential test: H plays the part of
// scenarios.erl's helpers (listen, connect, accept, pair, msgs, ...) on
// gentcp over memlink, and format prints results in the same normalized
// term syntax, so a Go scenario's line can be compared with erl's.
//
// The Erlang scenarios run in one process on one node over loopback. Here
// the listener and accepted sockets live on stack A (10.0.0.1), connecting
// sockets on stack B, and the one scenario process P acts on both (P.On).

// scenario is one ported scenario: it returns the value the Erlang
// scenario returns, built from the term types below.
type scenario func(h *H) any

// scenarios holds every ported scenario by name; files register them in
// init functions.
var scenarios = map[string]scenario{}

// notApplicable lists Erlang scenarios that cannot be expressed in Go,
// with the reason. They are reported as skipped, never silently dropped.
var notApplicable = map[string]string{}

// register adds a scenario. A failed match in it (OK, Badmatch) ends it
// as scenarios.erl's run/1 reports a crash.
func register(name string, f scenario) {
	if _, dup := scenarios[name]; dup {
		panic("scenario registered twice: " + name)
	}
	scenarios[name] = func(h *H) (out any) {
		defer func() {
			if r := recover(); r != nil {
				c, ok := r.(crash)
				if !ok {
					panic(r)
				}
				out = c.out
			}
		}()
		return f(h)
	}
}

// crash is panicked by a failed match in a scenario; out is the line erl
// prints for it.
type crash struct{ out any }

// Crashed is what erl prints when a match on v fails:
// {scenario_crashed,error,{badmatch,V}}.
func Crashed(v any) any {
	return Tup{A("scenario_crashed"), A("error"), Tup{A("badmatch"), v}}
}

// Badmatch ends the scenario as a failed match on v does.
func Badmatch(v any) { panic(crash{Crashed(v)}) }

// OK is `ok = Call`.
func OK(err error) {
	if err != nil {
		Badmatch(ErrT(err))
	}
}

// Ms is N milliseconds, as the Erlang scenarios write their timeouts.
func Ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// serverIP is where listen sockets listen (the {ip,?IP} of the Erlang
// helpers).
var serverIP = netip.MustParseAddr("10.0.0.1")

// H is a scenario's world: two stacks on a memlink, a node on each, and
// the scenario's process.
type H struct {
	T    *testing.T
	Pair *testutil.Pair
	A, B *gentcp.Node
	// P is the scenario process acting on stack A (listen, accept); PB
	// is the same process acting on stack B (connect).
	P, PB *gentcp.Process
	names map[*gentcp.Socket]string

	mu      sync.Mutex
	helpers []*gentcp.Process // the scenario's helper processes (Proc)
	tasks   sync.WaitGroup    // goroutines Async started
}

func newH(t *testing.T) *H {
	p := testutil.NewPair(t, memlink.Options{ChecksumOffload: true}, stack.TCPOptions{})
	h := &H{T: t, Pair: p, A: gentcp.NewNode(p.A), B: gentcp.NewNode(p.B), names: map[*gentcp.Socket]string{}}
	h.P = h.A.NewProcess()
	h.PB = h.P.On(h.B)
	return h
}

// close ends the scenario's helper processes (erl: they are linked to the
// scenario process), then the scenario process (closing its sockets), and
// waits, bounded, for the goroutines Async started.
func (h *H) close() {
	h.mu.Lock()
	ps := h.helpers
	h.helpers = nil
	h.mu.Unlock()
	for _, p := range ps {
		p.Exit()
	}
	h.P.Exit()
	done := make(chan struct{})
	go func() { h.tasks.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// Proc is a helper process on node n (spawn/1): it lives until the
// scenario ends.
func (h *H) Proc(n *gentcp.Node) *gentcp.Process {
	p := n.NewProcess()
	h.mu.Lock()
	h.helpers = append(h.helpers, p)
	h.mu.Unlock()
	return p
}

// Task is async/1's handle: Await and DoneYet get its result.
type Task struct {
	ch   chan any
	done bool
	res  any
}

// Async is async/1: f runs on a goroutine of its own.
func (h *H) Async(f func() any) *Task {
	t := &Task{ch: make(chan any, 1)}
	h.tasks.Add(1)
	go func() {
		defer h.tasks.Done()
		t.ch <- f()
	}()
	return t
}

// AsyncProc is async/1 whose fun acts as a helper process of node n
// (Proc), for calls that need their own caller (accept, controlling
// process, a mailbox).
func (h *H) AsyncProc(n *gentcp.Node, f func(p *gentcp.Process) any) *Task {
	p := h.Proc(n)
	return h.Async(func() any { return f(p) })
}

// Await is await/1,2: the result, waiting up to ms milliseconds (default
// 5000); await_timeout if none came.
func (t *Task) Await(ms ...int) any {
	if t.done {
		return t.res
	}
	d := 5000
	if len(ms) > 0 {
		d = ms[0]
	}
	tm := time.NewTimer(Ms(d))
	defer tm.Stop()
	select {
	case r := <-t.ch:
		t.done, t.res = true, r
		return r
	case <-tm.C:
		return A("await_timeout")
	}
}

// DoneYet is done_yet/1: done or not_yet; the result stays for Await.
func (t *Task) DoneYet() any {
	if t.done {
		return A("done")
	}
	select {
	case r := <-t.ch:
		t.done, t.res = true, r
		return A("done")
	default:
		return A("not_yet")
	}
}

// Collector is collector/0: a helper process that only gathers messages.
type Collector struct {
	h *H
	p *gentcp.Process
}

// Collector starts collector/0 on node A.
func (h *H) Collector() *Collector { return &Collector{h: h, p: h.Proc(h.A)} }

// Collect is collect/1: the collector's msgs() (3 s limit).
func (c *Collector) Collect() any {
	t := c.h.Async(func() any { return c.h.MsgsOf(c.p, 100) })
	if r := t.Await(3000); r != A("await_timeout") {
		return r
	}
	return A("collect_timeout")
}

// Reg names a socket for printing, as reg/2 does.
func (h *H) Reg(s *gentcp.Socket, name string) *gentcp.Socket {
	if s != nil {
		h.names[s] = name
	}
	return s
}

// Listen is listen/1: passive binary on serverIP, opts after (last wins).
func (h *H) Listen(opts ...gentcp.Option) *gentcp.Socket {
	h.T.Helper()
	l, err := h.P.Listen(0, append([]gentcp.Option{gentcp.Binary, gentcp.Active(false), gentcp.IP(serverIP)}, opts...)...)
	if err != nil {
		h.T.Fatalf("listen: %v", err)
	}
	return h.Reg(l, "l")
}

// Port is port/1.
func (h *H) Port(l *gentcp.Socket) int {
	h.T.Helper()
	p, err := l.Port()
	if err != nil {
		h.T.Fatalf("port: %v", err)
	}
	return p
}

// Connect is connect/2,3 from stack B: passive binary, opts after.
func (h *H) Connect(l *gentcp.Socket, opts ...gentcp.Option) *gentcp.Socket {
	h.T.Helper()
	return h.ConnectAs(l, "c", opts...)
}

// ConnectAs is connect/3 with a name.
func (h *H) ConnectAs(l *gentcp.Socket, name string, opts ...gentcp.Option) *gentcp.Socket {
	h.T.Helper()
	c, err := h.PB.Connect(serverIP.String(), h.Port(l), 2*time.Second, append([]gentcp.Option{gentcp.Binary, gentcp.Active(false)}, opts...)...)
	if err != nil {
		h.T.Fatalf("connect: %v", err)
	}
	return h.Reg(c, name)
}

// Accept is accept/1,2.
func (h *H) Accept(l *gentcp.Socket) *gentcp.Socket { return h.AcceptAs(l, "a") }

// AcceptAs is accept/2.
func (h *H) AcceptAs(l *gentcp.Socket, name string) *gentcp.Socket {
	h.T.Helper()
	a, err := h.P.Accept(l, 2*time.Second)
	if err != nil {
		h.T.Fatalf("accept: %v", err)
	}
	return h.Reg(a, name)
}

// MkPair is pair/2: listen, connect, accept.
func (h *H) MkPair(lopts, copts []gentcp.Option) (l, c, a *gentcp.Socket) {
	h.T.Helper()
	l = h.Listen(lopts...)
	c = h.Connect(l, copts...)
	a = h.Accept(l)
	return
}

// Sl is sl/0,1: sleep 50 ms, or ms.
func (h *H) Sl(ms ...int) {
	d := 50
	if len(ms) > 0 {
		d = ms[0]
	}
	time.Sleep(time.Duration(d) * time.Millisecond)
}

// Msgs is msgs/0,1: the scenario process's messages until none arrives for
// ms milliseconds (default 100), normalized.
func (h *H) Msgs(ms ...int) Lst {
	d := 100
	if len(ms) > 0 {
		d = ms[0]
	}
	return h.MsgsOf(h.P, d)
}

// MsgsOf is msgs/1 run by process p (a helper): p's own messages until
// none arrives for ms milliseconds.
func (h *H) MsgsOf(p *gentcp.Process, ms int) Lst {
	out := Lst{}
	for {
		m, err := p.Receive(Ms(ms))
		if err != nil {
			return out
		}
		out = append(out, h.Msg(m))
	}
}

// Next is next/0: the scenario process's next socket message, waiting up
// to 2 s.
func (h *H) Next() any {
	m, err := h.P.Receive(2 * time.Second)
	if err != nil {
		return A("no_message")
	}
	return h.Msg(m)
}

// WaitMailbox is wait_mailbox/1: poll (20 ms, 100 tries) until the
// mailbox holds at least n socket messages; does not consume.
func (h *H) WaitMailbox(n int) Lst {
	for range 100 {
		if ms := h.Mailbox(); len(ms) >= n {
			return ms
		}
		h.Sl(20)
	}
	return h.Mailbox()
}

// Mailbox is mailbox/0: the messages now in the mailbox, not consumed.
func (h *H) Mailbox() Lst {
	out := Lst{}
	for _, m := range h.P.Pending() {
		out = append(out, h.Msg(m))
	}
	return out
}

// Msg normalizes one socket message.
func (h *H) Msg(m gentcp.Message) any {
	switch m := m.(type) {
	case gentcp.TCP:
		return Tup{A("tcp"), h.S(m.Socket), m.Data}
	case gentcp.PortData:
		return Tup{h.S(m.Socket), Tup{A("data"), m.Data}}
	case gentcp.TCPClosed:
		return Tup{A("tcp_closed"), h.S(m.Socket)}
	case gentcp.TCPError:
		return Tup{A("tcp_error"), h.S(m.Socket), A(m.Reason)}
	case gentcp.TCPPassive:
		return Tup{A("tcp_passive"), h.S(m.Socket)}
	case gentcp.HTTP:
		return Tup{A("http"), h.S(m.Socket), httpTerm(m.Packet)}
	}
	return A(fmt.Sprintf("unexpected_message_%T", m))
}

// S is a socket's printed name (port if unregistered).
func (h *H) S(s *gentcp.Socket) A {
	if n, ok := h.names[s]; ok {
		return A(n)
	}
	return A("port")
}

// R prints a result that is ok or {error,Reason}.
func R(err error) any {
	if err == nil {
		return A("ok")
	}
	return ErrT(err)
}

// ErrT prints {error,Reason}; an error OTP raises instead is printed as
// the caught exception {'EXIT',Class,Reason} by X.
func ErrT(err error) any {
	var r gentcp.Reason
	if errors.As(err, &r) {
		return Tup{A("error"), A(r)}
	}
	return Tup{A("error"), A("go_" + strings.ReplaceAll(err.Error(), " ", "_"))}
}

// X prints an error OTP raises as an exception: badarg from a bad option
// is an exit, function_clause an error unless class says otherwise.
func X(class string, err error) any {
	var r gentcp.Reason
	if errors.As(err, &r) {
		return Tup{A("EXIT"), A(class), A(r)}
	}
	return Tup{A("EXIT"), A(class), A("go_" + err.Error())}
}

// RS prints {ok,Name} or {error,Reason} for a call returning a socket.
func (h *H) RS(s *gentcp.Socket, err error, name string) any {
	if err != nil {
		return ErrT(err)
	}
	h.Reg(s, name)
	return Tup{A("ok"), A(name)}
}

// RD prints {ok,Data} or {error,Reason} for recv.
func RD(d gentcp.Data, err error) any {
	if err != nil {
		return ErrT(err)
	}
	return Tup{A("ok"), d}
}

// RSize prints {ok,Size} or {error,Reason}, for scenarios that print a
// received packet's size.
func RSize(d gentcp.Data, err error) any {
	if err != nil {
		return ErrT(err)
	}
	return Tup{A("ok"), len(d.Bytes)}
}

// RO prints {ok,[Opts]} or {error,Reason} for getopts.
func RO(opts []gentcp.Option, err error) any {
	if err != nil {
		return ErrT(err)
	}
	l := Lst{}
	for _, o := range opts {
		l = append(l, Opt(o))
	}
	return Tup{A("ok"), l}
}

// Opt prints one option as getopts returns it: {Name,Value}.
func Opt(o gentcp.Option) any {
	return Tup{A(o.Name), Val(o.Value)}
}

// Val prints an option value.
func Val(v any) any {
	switch v := v.(type) {
	case bool:
		return A(strconv.FormatBool(v))
	case string:
		return A(v)
	case gentcp.Linger:
		return Tup{A(strconv.FormatBool(v.Enabled)), v.Seconds}
	}
	return v
}

// Get is opt/2: one option's value, or the error term.
func Get(s *gentcp.Socket, name string) any {
	opts, err := s.Getopts(name)
	if err != nil {
		return ErrT(err)
	}
	return Val(opts[0].Value)
}

// Bytes is bytes/1: N bytes of "0123456789abcdef" repeated.
func Bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789abcdef"[i%16]
	}
	return b
}

// Stats prints inet:getstat's {ok,[{K,V}]} or {error,R}.
func Stats(st []gentcp.Stat, err error) any {
	if err != nil {
		return ErrT(err)
	}
	l := Lst{}
	for _, s := range st {
		l = append(l, Tup{A(s.Name), s.Value})
	}
	return Tup{A("ok"), l}
}

// Pend is pend/1: send_pend.
func Pend(s *gentcp.Socket) int {
	st, err := s.Getstat("send_pend")
	if err != nil {
		return -1
	}
	return st[0].Value
}

// ---------------------------------------------------------------------------
// Terms and their printing, after scenarios.erl's norm/1 and fmt/1.

// A is an atom.
type A string

// Tup is a tuple.
type Tup []any

// Lst is a proper list.
type Lst []any

// Bin is a binary.
type Bin []byte

// Improper is [H1,...,Hn|Tail].
type Improper struct {
	Head []any
	Tail any
}

// Format prints a term as scenarios.erl's fmt/1 does after norm/1.
func Format(v any) string {
	var b strings.Builder
	write(&b, v)
	return b.String()
}

func write(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("undefined")
	case A:
		b.WriteString(atom(string(v)))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case Bin:
		writeBin(b, v)
	case []byte:
		writeBin(b, v)
	case gentcp.Data:
		writeData(b, v)
	case Tup:
		b.WriteByte('{')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			write(b, e)
		}
		b.WriteByte('}')
	case Lst:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			write(b, e)
		}
		b.WriteByte(']')
	case Improper:
		b.WriteByte('[')
		for i, e := range v.Head {
			if i > 0 {
				b.WriteByte(',')
			}
			write(b, e)
		}
		b.WriteByte('|')
		write(b, v.Tail)
		b.WriteByte(']')
	default:
		fmt.Fprintf(b, "go_%T", v)
	}
}

// writeData prints received data the way erl shows it: a binary, a list
// of byte values in list mode, or [H1,..|Binary] with {header,N}. Large
// values are summarized as norm/1 does.
func writeData(b *strings.Builder, d gentcp.Data) {
	switch {
	case d.List:
		if len(d.Bytes) > 64 {
			write(b, Tup{A("list"), len(d.Bytes), int(crc32.ChecksumIEEE(d.Bytes))})
			return
		}
		l := Lst{}
		for _, c := range d.Bytes {
			l = append(l, int(c))
		}
		write(b, l)
	case d.Header > 0:
		head := []any{}
		for _, c := range d.Bytes[:d.Header] {
			head = append(head, int(c))
		}
		write(b, Improper{head, Bin(d.Bytes[d.Header:])})
	default:
		writeBin(b, d.Bytes)
	}
}

func writeBin(b *strings.Builder, v []byte) {
	if len(v) > 64 {
		write(b, Tup{A("bin"), len(v), int(crc32.ChecksumIEEE(v))})
		return
	}
	if len(v) == 0 {
		b.WriteString("<<>>")
		return
	}
	printable := true
	for _, c := range v {
		if c < 32 || c > 126 || c == '"' || c == '\\' {
			printable = false
		}
	}
	if printable {
		b.WriteString(`<<"` + string(v) + `">>`)
		return
	}
	b.WriteString("<<")
	for i, c := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(c)))
	}
	b.WriteString(">>")
}

// atom quotes an atom as io_lib:write_atom does.
func atom(s string) string {
	if s == "" {
		return "''"
	}
	plain := s[0] >= 'a' && s[0] <= 'z'
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '@') {
			plain = false
		}
	}
	// OTP 25 prints maybe and else unquoted (they are reserved only with
	// the maybe_expr feature).
	switch s {
	case "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor", "case", "catch",
		"cond", "div", "end", "fun", "if", "let", "not", "of", "or", "orelse", "receive", "rem", "try",
		"when", "xor":
		plain = false
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}
