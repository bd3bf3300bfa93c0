package gentcp

import (
	"testing"
	"unsafe"
)

// TestDataStaysSmall: Data is in every Recv result and every {tcp,S,Data}
// message of every packet type, so it carries only what every packet
// needs (Bytes, List, Header, chunk: 48 bytes on 64-bit). HTTP packets
// leave the receive buffer by a path of their own (takeHTTPLocked); an
// HTTPPacket field here made it 64.
func TestDataStaysSmall(t *testing.T) {
	want := unsafe.Sizeof([]byte(nil)) + 2*unsafe.Sizeof(0) + unsafe.Sizeof((*chunk)(nil))
	if got := unsafe.Sizeof(Data{}); got != want {
		t.Errorf("unsafe.Sizeof(Data{}) = %d, want %d (Bytes, List, Header, chunk)", got, want)
	}
}
