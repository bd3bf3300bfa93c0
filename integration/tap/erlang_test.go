package tap_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/tap/taptest"
)

// The messages peer.escript exchanges: their sizes, and byte j of message
// i (from 1) is (i + j) mod 251.
var erlSizes = []int{0, 1, 65535, 1 << 20}

func erlMessage(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte((i + j) % 251)
	}
	return b
}

// erlOpts are gentcp's side of the exchange, as peer.escript's.
var erlOpts = []gentcp.Option{gentcp.Binary, gentcp.Packet(4), gentcp.ActiveOnce}

// receiveOnce takes the next {tcp,S,Data} of an {active,once} socket and
// re-arms it.
func receiveOnce(t *testing.T, p *gentcp.Process, s *gentcp.Socket, i int) []byte {
	t.Helper()
	m, err := p.Receive(ioTimeout)
	if err != nil {
		t.Fatalf("receive message %d: %v", i, err)
	}
	d, ok := m.(gentcp.TCP)
	if !ok {
		t.Fatalf("message %d: got %v, want {tcp,S,Data}", i, m)
	}
	if err := s.Setopts(gentcp.ActiveOnce); err != nil {
		t.Fatalf("setopts active once: %v", err)
	}
	return d.Data.Bytes
}

// TestErlang runs real Erlang/OTP in the namespace against gentcp:
// erl connects to a gentcp server (over IPv4 and IPv6), and a gentcp
// client connects to an erl server; {packet,4} and {active,once} on both
// sides, messages of 0, 1, 65535 and 1 MiB bytes, each echoed and checked
// by both.
func TestErlang(t *testing.T) {
	l := newTapLink(t, linkOptions{})
	escript := taptest.RequireCommand(t, "escript", "erlang-base")
	script, err := filepath.Abs("peer.escript")
	if err != nil {
		t.Fatal(err)
	}

	for _, fam := range families {
		t.Run("erl client, gentcp server, "+fam, func(t *testing.T) {
			ls, port := userListen(t, l, fam, erlOpts...)
			acc := accept(t, l, ls)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := l.ns.Command(ctx, escript, script, "client", l.userAddr[fam].String(), strconv.Itoa(port))
			var out, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &stderr
			start(t, cmd)
			s := <-acc
			if s == nil {
				return
			}
			p := s.Owner()
			for i, n := range erlSizes {
				got := receiveOnce(t, p, s, i+1)
				if want := erlMessage(i+1, n); !bytes.Equal(got, want) {
					t.Fatalf("message %d from erl: %d bytes, want %d equal bytes", i+1, len(got), n)
				}
				if err := s.Send(got); err != nil {
					t.Fatalf("send echo %d: %v", i+1, err)
				}
			}
			m, err := p.Receive(ioTimeout)
			if _, ok := m.(gentcp.TCPClosed); !ok {
				t.Errorf("after the last message: %v, %v; want {tcp_closed,S}", m, err)
			}
			s.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatalf("escript client: %v\n%s", err, stderr.String())
			}
			if !strings.Contains(out.String(), fmt.Sprintf("ok %d messages", len(erlSizes))) {
				t.Errorf("escript client said %q", out.String())
			}
		})
	}

	t.Run("gentcp client, erl server", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		const port = 7200
		cmd := l.ns.Command(ctx, escript, script, "server", strconv.Itoa(port))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start(t, cmd)
		lines := bufio.NewScanner(stdout)
		if !lines.Scan() || lines.Text() != "listening" {
			t.Fatalf("escript server did not start: %q\n%s", lines.Text(), stderr.String())
		}
		s := connectRetry(t, l, "inet", port, erlOpts...)
		p := s.Owner()
		for i, n := range erlSizes {
			want := erlMessage(i+1, n)
			if err := s.Send(want); err != nil {
				t.Fatalf("send message %d: %v", i+1, err)
			}
			if got := receiveOnce(t, p, s, i+1); !bytes.Equal(got, want) {
				t.Fatalf("echo %d from erl: %d bytes, want the %d sent", i+1, len(got), n)
			}
		}
		s.Close()
		var rest []string
		for lines.Scan() {
			rest = append(rest, lines.Text())
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("escript server: %v\n%s", err, stderr.String())
		}
		if want := fmt.Sprintf("ok %d messages", len(erlSizes)); len(rest) != 1 || rest[0] != want {
			t.Errorf("escript server said %q, want %q", rest, want)
		}
	})
}
