package tap_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/pcap"
)

// These bodies run over memlink and over TAP (forEachLink). The usertcp
// side uses gen_tcp's own calls; the peer side uses Go's net.Conn, which
// over TAP are kernel sockets in the namespace.

const ioTimeout = 30 * time.Second

// passive are the options of the user side's sockets in these tests:
// bytes, passive, and exit_on_close false so that a half-closed socket
// can still send.
var passive = []gentcp.Option{gentcp.Binary, gentcp.Active(false), gentcp.PacketRaw,
	gentcp.ExitOnClose(false), gentcp.Buffer(256 << 10)}

// userListen opens a gen_tcp listen socket for family on a free port,
// owned by a process that exits when the test ends.
func userListen(t *testing.T, l *testLink, family string, opts ...gentcp.Option) (*gentcp.Socket, int) {
	t.Helper()
	p := l.user.NewProcess()
	t.Cleanup(p.Exit)
	ls, err := p.Listen(0, append([]gentcp.Option{famOpt(family)}, opts...)...)
	if err != nil {
		t.Fatalf("gen_tcp:listen: %v", err)
	}
	port, err := ls.Port()
	if err != nil {
		t.Fatalf("inet:port: %v", err)
	}
	return ls, port
}

// accept runs gen_tcp:accept in a process of its own and hands over the
// socket and its process.
func accept(t *testing.T, l *testLink, ls *gentcp.Socket) <-chan *gentcp.Socket {
	ch := make(chan *gentcp.Socket, 1)
	p := l.user.NewProcess()
	t.Cleanup(p.Exit)
	go func() {
		s, err := p.Accept(ls, ioTimeout)
		if err != nil {
			t.Errorf("gen_tcp:accept: %v", err)
			close(ch)
			return
		}
		ch <- s
	}()
	return ch
}

// dialPeer connects the peer to the user side.
func dialPeer(t *testing.T, l *testLink, family string, port int) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	c, err := l.peer.DialContext(ctx, network(family), l.userHostPort(family, port))
	if err != nil {
		t.Fatalf("peer dial %s: %v", l.userHostPort(family, port), err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(2 * ioTimeout))
	return c
}

// connectUser connects a user-side gen_tcp socket to the peer.
func connectUser(t *testing.T, l *testLink, family string, port int, opts ...gentcp.Option) (*gentcp.Process, *gentcp.Socket) {
	t.Helper()
	p := l.user.NewProcess()
	t.Cleanup(p.Exit)
	s, err := p.Connect(l.peerAddr[family].String(), port, ioTimeout, opts...)
	if err != nil {
		t.Fatalf("gen_tcp:connect(%s): %v", l.peerHostPort(family, port), err)
	}
	return p, s
}

// peerListen opens a listener on the peer side for family.
func peerListen(t *testing.T, l *testLink, family string) (net.Listener, int) {
	t.Helper()
	ln, err := l.peer.Listen(network(family), l.peerHostPort(family, 0))
	if err != nil {
		t.Fatalf("peer listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// recvAll receives on a passive socket until the peer closes its side.
func recvAll(s *gentcp.Socket) ([]byte, error) {
	var out []byte
	for {
		d, err := s.Recv(0, ioTimeout)
		if errors.Is(err, gentcp.Closed) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, d.Bytes...)
	}
}

// TestEcho: each side runs an echo server and the other checks it, over
// IPv4 and IPv6 (neighbours found by ARP and by NDP).
func TestEcho(t *testing.T) {
	forEachLink(t, linkOptions{}, func(t *testing.T, l *testLink) {
		for _, fam := range families {
			t.Run(fam, func(t *testing.T) {
				msg := bytes.Repeat([]byte("usertcp echo "), 1000)

				// Peer → user: gen_tcp echo server.
				ls, port := userListen(t, l, fam, passive...)
				acc := accept(t, l, ls)
				c := dialPeer(t, l, fam, port)
				s := <-acc
				if s == nil {
					return
				}
				go func() {
					defer s.Close()
					for {
						d, err := s.Recv(0, ioTimeout)
						if err != nil {
							return
						}
						if s.Send(d.Bytes) != nil {
							return
						}
					}
				}()
				for i := range 3 {
					if _, err := c.Write(msg); err != nil {
						t.Fatalf("peer write: %v", err)
					}
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("round %d: echo %d bytes, err %v; want %d equal bytes", i, len(got), err, len(msg))
					}
				}
				closeWrite(t, c)
				if n, err := c.Read(make([]byte, 1)); err != io.EOF {
					t.Errorf("peer read after its half-close = %d, %v; want EOF when the echo server closes", n, err)
				}

				// User → peer: a Go echo server on the peer side.
				ln, pport := peerListen(t, l, fam)
				go func() {
					pc, err := ln.Accept()
					if err != nil {
						return
					}
					defer pc.Close()
					io.Copy(pc, pc)
				}()
				_, us := connectUser(t, l, fam, pport, passive...)
				if err := us.Send(msg); err != nil {
					t.Fatalf("gen_tcp:send: %v", err)
				}
				if err := us.Shutdown(gentcp.ShutdownWrite); err != nil {
					t.Fatalf("gen_tcp:shutdown(write): %v", err)
				}
				got, err := recvAll(us)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("gen_tcp echo = %d bytes, %v; want %d equal bytes", len(got), err, len(msg))
				}
				us.Close()
			})
		}
	})
}

// TestBulk moves 100 MiB each way at once over one connection and
// compares SHA-256 sums of what each side sent and the other received.
func TestBulk(t *testing.T) {
	forEachLink(t, linkOptions{}, func(t *testing.T, l *testLink) {
		const n = 100 << 20
		start := time.Now()
		fullDuplex(t, l, "inet", n)
		el := time.Since(start)
		t.Logf("%s: %d MiB each way at once in %v (%.0f MiB/s each way)", l.kind, n>>20, el.Round(time.Millisecond), float64(n>>20)/el.Seconds())
	})
}

// fullDuplex sends n pseudo-random bytes from each side to the other on
// one connection, both at once, each sender half-closing when done, and
// checks the SHA-256 of every direction.
func fullDuplex(t *testing.T, l *testLink, family string, n int64) {
	t.Helper()
	ls, port := userListen(t, l, family, passive...)
	acc := accept(t, l, ls)
	c := dialPeer(t, l, family, port)
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	s := <-acc
	if s == nil {
		return
	}
	type result struct {
		what string
		sum  [32]byte
		n    int64
		err  error
	}
	results := make(chan result, 4)
	var wg sync.WaitGroup
	run := func(f func() result) {
		wg.Add(1)
		go func() { defer wg.Done(); results <- f() }()
	}
	run(func() result { // user sends
		h := sha256.New()
		src := newStream(1, n)
		buf := make([]byte, 256<<10)
		for {
			k, _ := src.Read(buf)
			if k == 0 {
				break
			}
			h.Write(buf[:k])
			if err := s.Send(buf[:k]); err != nil {
				return result{what: "user send", err: err}
			}
		}
		err := s.Shutdown(gentcp.ShutdownWrite)
		return result{what: "user sent", sum: [32]byte(h.Sum(nil)), n: n, err: err}
	})
	run(func() result { // user receives
		h := sha256.New()
		var got int64
		for {
			d, err := s.Recv(0, ioTimeout)
			if errors.Is(err, gentcp.Closed) {
				break
			}
			if err != nil {
				return result{what: "user recv", n: got, err: err}
			}
			h.Write(d.Bytes)
			got += int64(len(d.Bytes))
		}
		return result{what: "user received", sum: [32]byte(h.Sum(nil)), n: got}
	})
	run(func() result { // peer sends
		h := sha256.New()
		k, err := io.Copy(io.MultiWriter(c, h), newStream(2, n))
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		return result{what: "peer sent", sum: [32]byte(h.Sum(nil)), n: k, err: err}
	})
	run(func() result { // peer receives
		h := sha256.New()
		k, err := io.Copy(h, c)
		return result{what: "peer received", sum: [32]byte(h.Sum(nil)), n: k, err: err}
	})
	wg.Wait()
	close(results)
	got := map[string]result{}
	for r := range results {
		if r.err != nil {
			t.Errorf("%s after %d bytes: %v", r.what, r.n, r.err)
		}
		got[r.what] = r
	}
	for _, pair := range [][2]string{{"user sent", "peer received"}, {"peer sent", "user received"}} {
		a, b := got[pair[0]], got[pair[1]]
		if a.n != n || b.n != n || a.sum != b.sum {
			t.Errorf("%s %d bytes (sha256 %x…), %s %d bytes (sha256 %x…); want %d bytes, equal sums",
				pair[0], a.n, a.sum[:6], pair[1], b.n, b.sum[:6], n)
		}
	}
	s.Close()
}

// stream is n pseudo-random bytes from a seed.
type stream struct {
	rng  *rand.ChaCha8
	left int64
}

func newStream(seed byte, n int64) *stream {
	var s [32]byte
	s[0] = seed
	return &stream{rng: rand.NewChaCha8(s), left: n}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.left)]
	s.rng.Read(p)
	s.left -= int64(len(p))
	return len(p), nil
}

// TestPeerHalfClose: the peer shuts down its sending side
// (shutdown(SHUT_WR) on the kernel); gentcp, with exit_on_close false,
// reports closed, still replies, and the peer reads the reply. Passive and
// {active,once} sockets, IPv4 and IPv6.
func TestPeerHalfClose(t *testing.T) {
	forEachLink(t, linkOptions{}, func(t *testing.T, l *testLink) {
		for _, fam := range families {
			for _, mode := range []string{"passive", "active once"} {
				t.Run(fam+" "+mode, func(t *testing.T) {
					ls, port := userListen(t, l, fam, passive...)
					acc := accept(t, l, ls)
					c := dialPeer(t, l, fam, port)
					s := <-acc
					if s == nil {
						return
					}
					if _, err := c.Write([]byte("request")); err != nil {
						t.Fatal(err)
					}
					closeWrite(t, c)
					var got []byte
					if mode == "passive" {
						var err error
						if got, err = recvAll(s); err != nil {
							t.Fatalf("recv: %v", err)
						}
						if _, err := s.Recv(0, time.Second); !errors.Is(err, gentcp.Closed) {
							t.Errorf("recv after closed = %v; want closed again (exit_on_close false)", err)
						}
					} else {
						got = activeUntilClosed(t, s)
					}
					if string(got) != "request" {
						t.Errorf("gentcp got %q, want %q", got, "request")
					}
					if err := s.Send([]byte("reply")); err != nil {
						t.Fatalf("send after the peer's half-close: %v", err)
					}
					s.Close()
					reply, err := io.ReadAll(c)
					if err != nil || string(reply) != "reply" {
						t.Errorf("peer read %q, %v; want %q then EOF", reply, err, "reply")
					}
				})
			}
		}
	})
}

// activeUntilClosed switches s to {active,once} and collects {tcp,S,Data}
// messages until {tcp_closed,S}.
func activeUntilClosed(t *testing.T, s *gentcp.Socket) []byte {
	t.Helper()
	owner := s.Owner()
	var got []byte
	for {
		if err := s.Setopts(gentcp.ActiveOnce); err != nil {
			t.Fatalf("setopts active once: %v", err)
		}
		m, err := owner.Receive(ioTimeout)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		switch m := m.(type) {
		case gentcp.TCP:
			got = append(got, m.Data.Bytes...)
		case gentcp.TCPClosed:
			return got
		default:
			t.Fatalf("unexpected message %v", m)
		}
	}
}

// TestUserHalfClose is the reverse: gentcp shuts down its sending side,
// the peer reads to EOF, replies and closes, and gentcp reads the reply.
func TestUserHalfClose(t *testing.T) {
	forEachLink(t, linkOptions{}, func(t *testing.T, l *testLink) {
		for _, fam := range families {
			t.Run(fam, func(t *testing.T) {
				ln, port := peerListen(t, l, fam)
				peerDone := make(chan error, 1)
				go func() {
					c, err := ln.Accept()
					if err != nil {
						peerDone <- err
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(ioTimeout))
					req, err := io.ReadAll(c)
					if err != nil {
						peerDone <- err
						return
					}
					if string(req) != "request" {
						peerDone <- fmt.Errorf("peer read %q, want %q", req, "request")
						return
					}
					_, err = c.Write([]byte("reply"))
					peerDone <- err
				}()
				_, s := connectUser(t, l, fam, port, passive...)
				if err := s.Send([]byte("request")); err != nil {
					t.Fatal(err)
				}
				if err := s.Shutdown(gentcp.ShutdownWrite); err != nil {
					t.Fatalf("shutdown(write): %v", err)
				}
				got, err := recvAll(s)
				if err != nil || string(got) != "reply" {
					t.Errorf("gentcp read %q, %v; want %q then closed", got, err, "reply")
				}
				// Only now: as on OTP, a send after shutdown(write) is a
				// failed send, which closes the socket (and would have lost
				// the reply still to be read).
				if err := s.Send([]byte("more")); err == nil {
					t.Errorf("send after shutdown(write) = nil, want an error")
				}
				if err := <-peerDone; err != nil {
					t.Errorf("peer: %v", err)
				}
				s.Close()
			})
		}
	})
}

// TestReset covers RSTs both ways: an abortive close by either side, a
// close with unread input, and a connection to a port nobody listens on.
func TestReset(t *testing.T) {
	forEachLink(t, linkOptions{}, func(t *testing.T, l *testLink) {
		t.Run("peer aborts", func(t *testing.T) {
			// exit_on_close stays true here: with false, gentcp says
			// closed where OTP says econnreset (see peerReadReset).
			ls, port := userListen(t, l, "inet", gentcp.Binary, gentcp.Active(false), gentcp.ShowEconnreset(true))
			acc := accept(t, l, ls)
			c := dialPeer(t, l, "inet", port)
			s := <-acc
			if s == nil {
				return
			}
			abort(t, c)
			_, err := s.Recv(0, ioTimeout)
			if !errors.Is(err, gentcp.Econnreset) || !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("recv after the peer's RST = %v; want econnreset (show_econnreset true)", err)
			}
			s.Close()
		})
		t.Run("user aborts", func(t *testing.T) {
			ls, port := userListen(t, l, "inet", passive...)
			acc := accept(t, l, ls)
			c := dialPeer(t, l, "inet", port)
			s := <-acc
			if s == nil {
				return
			}
			if err := s.Setopts(gentcp.LingerOpt(true, 0)); err != nil {
				t.Fatal(err)
			}
			s.Close()
			peerReadReset(t, l, c)
		})
		t.Run("user closes with unread input", func(t *testing.T) {
			ls, port := userListen(t, l, "inet", passive...)
			acc := accept(t, l, ls)
			c := dialPeer(t, l, "inet", port)
			s := <-acc
			if s == nil {
				return
			}
			if _, err := c.Write([]byte("never read")); err != nil {
				t.Fatal(err)
			}
			// Wait until the bytes are in gentcp's receive buffer.
			waitReadable(t, s)
			s.Close()
			peerReadReset(t, l, c)
		})
		t.Run("peer connects to a closed port", func(t *testing.T) {
			ls, port := userListen(t, l, "inet", passive...)
			ls.Close()
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			_, err := l.peer.DialContext(ctx, "tcp4", l.userHostPort("inet", port))
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("peer dial to a closed port = %v; want ECONNREFUSED", err)
			}
		})
		t.Run("user connects to a closed port", func(t *testing.T) {
			ln, port := peerListen(t, l, "inet")
			ln.Close()
			p := l.user.NewProcess()
			defer p.Exit()
			_, err := p.Connect(l.peerAddr["inet"].String(), port, ioTimeout, passive...)
			if !errors.Is(err, gentcp.Econnrefused) || !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("gen_tcp:connect to a closed port = %v; want econnrefused", err)
			}
		})
	})
}

// peerReadReset checks that the peer's next read sees the RST gentcp sent.
// A kernel socket says ECONNRESET. The memlink peer is gentcp's net.Conn
// adapter, which says io.EOF: it runs with exit_on_close false, and gentcp
// then reports a reset as closed even with show_econnreset, where OTP (and
// Go's net.TCPConn) report econnreset.
func peerReadReset(t *testing.T, l *testLink, c net.Conn) {
	t.Helper()
	_, err := c.Read(make([]byte, 1))
	if errors.Is(err, syscall.ECONNRESET) {
		return
	}
	if l.kind == "memlink" && err == io.EOF {
		t.Logf("memlink peer (gentcp's net.Conn adapter) read %v after a RST; known difference from net.TCPConn", err)
		return
	}
	t.Errorf("peer read after gentcp's RST = %v; want ECONNRESET", err)
}

// waitReadable waits until the socket's endpoint holds unread bytes.
func waitReadable(t *testing.T, s *gentcp.Socket) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for time.Now().Before(deadline) {
		if n, err := s.Endpoint().GetSockOptInt(tcpip.ReceiveQueueSizeOption); err == nil && n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no input arrived")
}

// TestMTUMismatch gives the two sides different MTUs, 9000 and 1500 each
// way round. TCP's MSS option must keep every segment within the smaller
// one: the capture of the user side's link shows each side announcing its
// own MSS, and no frame in either direction above 1500 bytes of IP.
func TestMTUMismatch(t *testing.T) {
	for _, mtus := range [][2]int{{9000, 1500}, {1500, 9000}} {
		t.Run(fmt.Sprintf("user %d peer %d", mtus[0], mtus[1]), func(t *testing.T) {
			// Without TAP offloads, so that the capture shows the frames
			// as the MTUs cut them (with them, both sides hand over
			// segments of up to 64 KiB and the kernel cuts them by the
			// MSS: link/tap's TestOffload).
			forEachLink(t, linkOptions{userMTU: mtus[0], peerMTU: mtus[1], capture: true, noOffload: true}, func(t *testing.T, l *testLink) {
				fullDuplex(t, l, "inet", 8<<20)
				userMAC := userLinkAddress(l)
				l.userStack.Close() // flush the capture
				recs, lt, err := pcap.ReadFile(bytes.NewReader(l.capture.Bytes()))
				if err != nil || lt != pcap.LinkTypeEthernet {
					t.Fatalf("pcap.ReadFile = %v, %v; want Ethernet frames", lt, err)
				}
				limit := min(mtus[0], mtus[1]) + header.EthernetMinimumSize
				var largest [2]int // from user, from peer
				mss := map[bool]int{}
				for _, r := range recs {
					eth := header.Ethernet(r.Data)
					fromUser := eth.SourceAddress() == userMAC
					dir := 1
					if fromUser {
						dir = 0
					}
					largest[dir] = max(largest[dir], r.OrigLen)
					if eth.Type() != header.IPv4ProtocolNumber {
						continue
					}
					ip := header.IPv4(r.Data[header.EthernetMinimumSize:])
					if ip.TransportProtocol() != header.TCPProtocolNumber {
						continue
					}
					tcp := header.TCP(ip.Payload())
					if tcp.Flags().Contains(header.TCPFlagSyn) {
						mss[fromUser] = int(header.ParseSynOptions(tcp.Options(), tcp.Flags().Contains(header.TCPFlagAck)).MSS)
					}
				}
				if largest[0] > limit || largest[1] > limit {
					t.Errorf("largest frames: %d from the user side, %d from the peer; want at most %d", largest[0], largest[1], limit)
				}
				if largest[0] < limit-100 || largest[1] < limit-100 {
					t.Errorf("largest frames: %d from the user side, %d from the peer; want full-sized segments near %d", largest[0], largest[1], limit)
				}
				if mss[true] != mtus[0]-40 || mss[false] != mtus[1]-40 {
					t.Errorf("MSS announced: user %d, peer %d; want %d, %d", mss[true], mss[false], mtus[0]-40, mtus[1]-40)
				}
				t.Logf("%d frames; MSS user %d, peer %d; largest frame user %d, peer %d", len(recs), mss[true], mss[false], largest[0], largest[1])
			})
		})
	}
}

// userLinkAddress is the MAC of the user side's NIC.
func userLinkAddress(l *testLink) tcpip.LinkAddress {
	for _, nic := range l.userStack.Netstack().NICInfo() {
		if nic.Name == "eth0" {
			return nic.LinkAddress
		}
	}
	return ""
}
