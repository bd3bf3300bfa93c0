// Package gentcp gives Go programs Erlang/OTP's gen_tcp on a usertcp stack:
// the calls, options, messages and error reasons of OTP 25+, with OTP's own
// semantics where they differ from what netstack does by default.
//
// A Node is the gen_tcp side of one stack (it holds the default options,
// OTP's inet_default_connect_options and inet_default_listen_options). A
// Process stands for an Erlang process: it owns sockets and has a mailbox
// that active sockets send their messages to. Blocking calls take a
// timeout on the stack's clock (Infinity for OTP's infinity) and have
// Context variants.
//
// # OTP → Go
//
// Calls:
//
//	gen_tcp:connect(A, P, Opts, T)        p.Connect(host, port, timeout, opts...)   ConnectContext
//	gen_tcp:listen(P, Opts)               p.Listen(port, opts...)
//	gen_tcp:accept(L, T)                  p.Accept(l, timeout)                      AcceptContext
//	gen_tcp:send(S, Data)                 s.Send(data)                              SendContext
//	gen_tcp:recv(S, Len, T)               s.Recv(length, timeout)                   RecvContext
//	  (an HTTP packet type)               s.RecvHTTP(timeout)                       RecvHTTPContext
//	  (into a buffer of your own)         s.RecvAppend(dst, length, timeout)        RecvAppendContext
//	gen_tcp:close(S)                      s.Close()
//	gen_tcp:shutdown(S, How)              s.Shutdown(gentcp.ShutdownRead|ShutdownWrite|ShutdownReadWrite)
//	gen_tcp:controlling_process(S, Pid)   p.ControllingProcess(s, to)   (p is the caller, self())
//	inet:setopts(S, Opts)                 s.Setopts(opts...)
//	inet:getopts(S, Names)                s.Getopts(names...)
//	inet:port(S)                          s.Port()
//	inet:sockname(S) / inet:peername(S)   s.Sockname() / s.Peername()   (netip.AddrPort)
//	inet:getstat(S, Keys)                 s.Getstat(keys...)
//	spawn(F) / exit(normal)               node.Spawn(f) / p.Exit()
//	receive ... after T -> ... end        p.Receive(timeout), p.ReceiveContext, p.Mailbox() (a channel)
//	timer:sleep(T)                        p.Sleep(d)   (on the stack's clock)
//
// Options (each also parses from Erlang syntax with ParseOptions):
//
//	binary | list | {mode,M}              Binary, List, Mode(bool)
//	{active, true|false|once|N}           Active(bool), ActiveOnce, ActiveN(n)
//	{packet, 0|raw|1|2|4|line}            Packet(n), PacketRaw, PacketLine
//	{packet, asn1|cdr|sunrm|fcgi|tpkt}    PacketASN1, PacketCDR, PacketSunRM, PacketFCGI, PacketTPKT
//	                                      (delivered with their header; fcgi without its padding)
//	{packet, http|httph|http_bin|httph_bin}  PacketHTTP, PacketHTTPH, PacketHTTPBin, PacketHTTPHBin
//	                                      (one HTTPPacket per line: RecvHTTP or the HTTP message)
//	{packet_size,N} {header,N}            PacketSize(n), Header(n)
//	{line_delimiter,C}                    LineDelimiter(c)
//	{backlog,B}  (default 5)              Backlog(b)
//	{ip,Addr} {port,P}                    IP(netip.Addr), Port(p)
//	{fd,Fd}                               FD(endpoint, waiterQueue): adopt a netstack endpoint
//	inet | inet6                          Inet, Inet6
//	{exit_on_close,B} {show_econnreset,B} ExitOnClose(b), ShowEconnreset(b)
//	{buffer,N} {recbuf,N} {sndbuf,N}      Buffer(n), Recbuf(n), Sndbuf(n)
//	{nodelay,B} {keepalive,B}             Nodelay(b), Keepalive(b)
//	{reuseaddr,B} {linger,{B,S}}          Reuseaddr(b), LingerOpt(b, s)
//	{send_timeout,T} {send_timeout_close,B}  SendTimeout(d), SendTimeoutClose(b)
//	{high_watermark,N} {low_watermark,N}  HighWatermark(n), LowWatermark(n)
//	{high_msgq_watermark,N} {low_msgq_watermark,N}  HighMsgqWatermark(n), LowMsgqWatermark(n)
//	{delay_send,B} {deliver,port|term}    DelaySend(b), DeliverPort, DeliverTerm
//	{priority,N} {tos,N}                  Priority(n), Tos(n)
//
// Messages (values in the owner's mailbox; use a type switch):
//
//	{tcp, S, Data}                        gentcp.TCP{Socket, Data}
//	{S, {data, Data}}  ({deliver,port})   gentcp.PortData{Socket, Data}
//	{tcp_closed, S}                       gentcp.TCPClosed{Socket}
//	{tcp_error, S, Reason}                gentcp.TCPError{Socket, Reason}
//	{tcp_passive, S}                      gentcp.TCPPassive{Socket}
//	{http, S, HttpPacket}                 gentcp.HTTP{Socket, Packet}
//
// HttpPacket (erlang:decode_packet/3), an HTTPPacket:
//
//	{http_request, Method, Uri, Vsn}      gentcp.HTTPRequest{Method, URI, Version}   KnownMethod: an atom
//	{http_response, Vsn, Status, Reason}  gentcp.HTTPResponse{Version, Status, Reason}
//	{http_header, I, Field, Unmod, Value} gentcp.HTTPHeader{Field, UnmodifiedField, Value}   Index: I, 0 for a string
//	http_eoh                              gentcp.HTTPEOH{}
//	{http_error, Line}                    gentcp.HTTPError{Line}
//	'*' {abs_path,P} {absoluteURI,S,H,Port,P} {scheme,S,R} "uri"   gentcp.HTTPURI{Kind: URIStar, URIAbsPath, ...}
//	strings: lists (http, httph) or binaries (http_bin, httph_bin)   the packet's Bin
//
// Data: a Data value carries the bytes in both modes; Data.List says the
// socket was in list mode (Erlang would have given "abc" rather than
// <<"abc">>) and Data.Header is the {header,N} split. Data.String prints
// the Erlang form.
//
// Reasons: a Reason is the atom: Closed, Timeout, Econnrefused, Econnreset,
// Enotconn, Einval, Ealready, Emsgsize, Enomem, Eaddrinuse, Eaddrnotavail,
// Ebadf (a socket that closed itself underneath: Sockname, Port), Nxdomain
// (connect to a name the host table lacks), NotOwner, BadArg, ... errors.Is matches the syscall.Errno a POSIX reason
// names; Timeout matches os.ErrDeadlineExceeded and
// context.DeadlineExceeded. Where OTP raises an exception, gentcp returns
// an error: exit(badarg) for a bad option is an *OptionError matching
// ErrBadArg; function_clause is FunctionClause.
//
// Go's interfaces: Node.Dial, Node.DialContext and Node.Listen give
// net.Conn (with CloseWrite and CloseRead) and net.Listener over the same
// sockets, so net/http runs over the stack; NewConn wraps a socket made
// with the gen_tcp calls. The adapter follows Go's conventions, not
// gen_tcp's: errors read as net's ("dial tcp 10.0.0.1:9999: connect:
// connection refused", an *net.OpError around an *os.SyscallError that
// errors.Is matches with both Econnrefused and syscall.ECONNREFUSED; a
// name that does not resolve is an *net.DNSError with IsNotFound); a port
// may be a service name ("server:http"); Conn.Close returns at once and
// queued output is sent in the background, within close/1's bounds, and
// Conn.SetLinger changes that as net.TCPConn's does (0: reset; n > 0: wait
// up to n seconds). Recv returns a binary that is the caller's, as
// Erlang does, which costs an allocation per read unless the caller gives
// it back with Data.Release when done (as Erlang's driver reuses the
// buffer of a sub-binary no one holds); RecvAppend (the same call
// appending to the caller's buffer) and Conn.Read copy netstack's bytes
// straight into a buffer the caller reuses. For bulk transfers the three
// move about as fast; a Recv whose Data is kept moves about half as much.
//
// # The semantics OTP has and netstack lacks
//
// gentcp owns, per socket, what OTP's inet driver and Linux add to TCP
// (reference/gen_tcp-semantics.md §13): recv(N) that discards a short tail
// on close; recv(0) returning at most `buffer` bytes; a close or reset
// reported once (closed, or econnreset with show_econnreset) and enotconn
// after; exit_on_close; an asynchronous send queue with high and low
// watermarks, send_timeout and send_timeout_close; close waiting for queued
// output; backlog B admitting B+1 connections and dropping SYNs beyond;
// packet framing; active delivery with once/N flow control; the
// controlling process and its mailbox moves.
//
// It also corks a stream of small sends, as Linux's autocorking does for
// OTP, where netstack would send one segment per {nodelay,true} write: a
// send under 4 KiB that follows another small send, with nothing
// delivered to the application in between, waits in the send queue, and
// the drain writes everything queued by then in one endpoint write
// (send.go corkLocked). A request after a reply, a bulk send and a send
// on a connection that is not ESTABLISHED are written at once. Corked
// bytes count neither in getstat's send_pend nor against the
// watermarks: in OTP they would be in the kernel's buffer.
//
// # Where each concern lives
//
// A call's name leads to its file; each file's opening comment says what
// it owns and which locks it takes.
//
//	socket.go    the Socket type, its shared state and the lock order; making a socket and its endpoint
//	connect.go   Connect
//	listen.go    Listen and Accept (the backlog)
//	send.go      Send, the send queue with its watermarks, corking, the drain goroutine
//	recv.go      passive Recv and RecvAppend, the receive buffer and its rules, taking a framed packet
//	active.go    active mode: the reader, delivery, once/N and tcp_passive
//	close.go     Close, Shutdown, and exit_on_close when the peer closes
//	owner.go     ControllingProcess, becoming the owner, closing an exiting owner's sockets
//	sockopts.go  Setopts and Getopts on a socket, options passed down to the endpoint
//	stat.go      Port, Sockname, Peername and Getstat
//	options.go   every option: parsing, defaults, validation        terms.go  ParseOptions (Erlang syntax)
//	packet.go    {packet,_} framing over bytes                       data.go   Data
//	packet_headers.go  asn1, cdr, sunrm, fcgi and tpkt: lengths read from a protocol header
//	packet_http.go  http, httph, http_bin and httph_bin: lines, their parse state, RecvHTTP
//	packet_http_terms.go  HTTPPacket and its types, the HTTP message
//	chunk.go     the arrays reads go into, pooled, and Data.Release
//	errors.go    every Reason and the netstack error table           wait.go   Scheduler and the one wait
//	process.go   Node and Process: mailboxes, Spawn, Exit            netconn.go  net.Conn and net.Listener
//
// # Goroutines
//
// An idle socket holds no goroutine, passive or active, so 100,000 idle
// connections cost heap and nothing else (BENCHMARKS.md, memory). An active
// socket's reader runs while there is something to deliver and returns when
// the endpoint has nothing more; netstack's readable callback starts a new
// one when data, a close or an error comes. A send queue's drain goroutine
// runs only while the queue holds bytes. Under a Scheduler (package sim)
// readers wait as goroutines instead, since the scheduler must see every
// wait.
//
// # Differences from OTP
//
//   - Exceptions are errors. OTP exits with badarg or function_clause; Go
//     code gets an error value that says so (ErrBadArg, FunctionClause).
//   - A packet length above 64 MiB with packet_size 0 is emsgsize
//     ({packet,1|2|4} and the types framed by a protocol header).
//     OTP would buffer up to 4 GiB for one packet; a hostile peer must not
//     make a socket allocate without bound.
//   - {deliver,port} on a passive socket: Recv and RecvHTTP return the
//     packet (RecvHTTP parsed), one per call, and the owner gets nothing.
//     OTP 25's driver sends the packet to the owner as {S,{data,Packet}}
//     (for the HTTP types the raw line) in place of the recv's reply, so
//     the recv is never answered: it ignores its timeout and the peer's
//     close, returns {error,closed} only when the socket is closed, and
//     every recv meanwhile is ealready. That holds for every packet type
//     (integration/otp's deliver_port_passive_recv, on erl only).
//     Matching it would give a Recv that ignores its timeout and context
//     and a socket that can no longer receive, which no program can use;
//     TestRecvDeliverPortPassive keeps gentcp's behaviour. An active
//     socket with {deliver,port} sends PortData as OTP does, for the HTTP
//     types the raw line, unparsed.
//   - A recv waiting while Setopts changes the packet type (the Setopts
//     alone never ends it; the peer's next bytes are framed with the new
//     type, as in OTP). Go's two calls for gen_tcp:recv cannot carry each
//     other's results: where OTP's pending recv returns an HTTP packet
//     after a switch to an HTTP type, Recv returns einval once the packet
//     is whole and leaves it buffered for RecvHTTP, and RecvHTTP does the
//     same for a packet of a non-HTTP type, which Recv then returns. A
//     pending Recv(N) returns the N bytes it reads as they came, where
//     OTP hands them to the new type as one packet: it strips a
//     {packet,1|2|4} header from them (its VM aborts when N is shorter
//     than the header) or parses their first line as HTTP and drops the
//     rest. A {packet,1|2|4} packet half read when the type changes makes
//     OTP read exactly its rest and return the whole buffer as one packet
//     of the new type; gentcp does that for raw (the header included, as
//     OTP) and frames the buffer with any other new type, where OTP would
//     hand over, say, a "line" without its newline. integration/otp's
//     switch_* scenarios show both sides (the cases gentcp does not follow
//     run on erl only).
//   - recbuf and sndbuf report netstack's buffer sizes, which differ from
//     Linux's (Linux doubles what is set); they are not part of the contract.
//   - priority and tos are stored and returned; tos is passed to netstack,
//     priority has no effect (netstack has no queueing disciplines by
//     priority).
//   - Caller identity is explicit: calls where OTP uses self()
//     (connect/listen/accept owner, controlling_process) are methods on the
//     calling Process. Close removes a queued {tcp_closed,S} from the
//     owner's mailbox (OTP: the caller's, normally the owner).
//   - Backlog: with {backlog,B}, B+1 connections complete and later SYNs are
//     dropped, as on Linux. Connects issued back to back within
//     microseconds can admit one more: netstack may send a client's next
//     SYN before the final ACK of its previous handshake, where Linux on
//     loopback always processes the ACK first.
//   - A Process is a value, not a scheduler entity: nothing stops two
//     goroutines from acting as one process; don't.
package gentcp
