package tap

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// maxFrame is the read buffer size: the largest frame a TAP device can
// hand over (an MTU of 65535 plus the Ethernet header), whatever MTU either
// side has set, so that an oversized frame is never cut short.
const maxFrame = 65535 + header.EthernetMinimumSize

// device is the bottom of the link: a netstack LinkEndpoint that moves
// whole frames between the stack and a TAP descriptor. It adds and parses
// no header (link/ethernet, at the top of the layers, does); frames go up
// with protocol 0.
//
// The descriptor stays non-blocking and is driven by Go's poller through
// syscall.RawConn, so no thread sits in a blocking read: a reader goroutine
// runs while a dispatcher is attached, and a read deadline in the past
// stops it. (os.File.Fd would switch the descriptor to blocking mode; it is
// never called.)
//
// gVisor's link/fdbased drives such descriptors too, but its reader stops
// for good at the first frame addressed to another unicast MAC, and the
// kernel sends those to a TAP device whenever its neighbour cache is stale.
type device struct {
	file *os.File
	raw  syscall.RawConn

	mtu  atomic.Uint32
	addr atomic.Value // tcpip.LinkAddress
	caps netstack.LinkEndpointCapabilities

	// vnetHdr: every frame, both ways, comes after a virtio-net header
	// (vnet.go). finishRX: frames whose checksum the kernel left to the
	// stack get it finished here; verifyRX: the other frames the kernel
	// did not mark as checked are verified here (rxcheck.go), and netstack
	// is told it need not. With ChecksumOffload netstack trusts every
	// frame and both are skipped.
	vnetHdr  bool
	finishRX bool
	verifyRX bool

	// dispatcher is read by the reader for every frame.
	dispatcher atomic.Pointer[dispatcherBox]

	// readers counts reader goroutines: one at most, but one that is
	// leaving may overlap with its successor after a re-attach.
	readers sync.WaitGroup

	mu sync.Mutex
	// +checklocks:mu
	running bool // a reader is reading, or about to notice it should stop
	// +checklocks:mu
	stopping bool // the reader is asked to return (detached or closed)
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	onClose func()

	rxFrames, rxBytes, rxErrors atomic.Uint64
	rxBadChecksums              atomic.Uint64
	txFrames, txBytes, txErrors atomic.Uint64
	readErr                     atomic.Pointer[error]
}

type dispatcherBox struct{ d netstack.NetworkDispatcher }

var _ netstack.LinkEndpoint = (*device)(nil)

// newDevice wraps fd, which must be non-blocking; the device owns it from
// now on and closes it in Close.
func newDevice(fd int, name string, frameMTU uint32, mac tcpip.LinkAddress, caps netstack.LinkEndpointCapabilities, vnetHdr bool) (*device, error) {
	// os.NewFile sees that fd is non-blocking and registers it with the
	// poller.
	f := os.NewFile(uintptr(fd), "tap:"+name)
	raw, err := f.SyscallConn()
	if err == nil {
		// Deadlines work only on descriptors the poller took; the reader
		// needs one to stop.
		err = f.SetReadDeadline(time.Time{})
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	d := &device{file: f, raw: raw, caps: caps, vnetHdr: vnetHdr}
	if vnetHdr && caps&netstack.CapabilityRXChecksumOffload == 0 {
		d.finishRX, d.verifyRX = true, true
		d.caps |= netstack.CapabilityRXChecksumOffload
	}
	d.mtu.Store(frameMTU)
	d.addr.Store(mac)
	return d, nil
}

// Attach implements netstack.NetworkLinkEndpoint: a dispatcher starts the
// reader (or keeps a leaving one), nil asks it to stop. It never waits for
// the reader: netstack calls Attach with the stack's lock held (CreateNIC,
// RemoveNIC), and the reader may be delivering a frame that needs it.
func (d *device) Attach(disp netstack.NetworkDispatcher) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if disp == nil {
		d.dispatcher.Store(nil)
		d.stopLocked()
		return
	}
	d.dispatcher.Store(&dispatcherBox{disp})
	if d.closed {
		return
	}
	d.stopping = false
	d.file.SetReadDeadline(time.Time{})
	if !d.running {
		d.running = true
		d.readers.Add(1)
		go d.read()
	}
}

// stopLocked asks the reader to return; a read deadline in the past wakes
// it from the poller.
//
// +checklocks:d.mu
func (d *device) stopLocked() {
	d.stopping = true
	d.file.SetReadDeadline(time.Unix(1, 0))
}

// read delivers frames from the descriptor to the dispatcher until it is
// asked to stop or the device fails.
func (d *device) read() {
	defer d.readers.Done()
	// With offloads a frame may be a TCP segment of up to 64 KiB: its
	// IP packet still fits maxFrame.
	buf := make([]byte, vnetHdrSize+maxFrame)
	for {
		var n int
		var rerr error
		err := d.raw.Read(func(fd uintptr) bool {
			for {
				n, rerr = unix.Read(int(fd), buf)
				if rerr != unix.EINTR {
					return rerr != unix.EAGAIN
				}
			}
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			d.mu.Lock()
			if errors.Is(err, os.ErrDeadlineExceeded) && !d.stopping {
				// Detached and attached again before this reader
				// left: it carries on for the new dispatcher.
				d.mu.Unlock()
				continue
			}
			if !d.stopping {
				// EBADFD: the device was deleted under us; EIO and the
				// rest leave nothing to retry. The link goes quiet, as a
				// NIC whose cable is pulled.
				d.readErr.Store(&err)
			}
			d.running = false
			d.mu.Unlock()
			return
		}
		frame, verdict := d.unwrap(buf[:n])
		switch verdict {
		case frameRunt:
			d.rxErrors.Add(1)
			continue
		case frameBadChecksum:
			d.rxBadChecksums.Add(1)
			continue
		}
		d.rxFrames.Add(1)
		d.rxBytes.Add(uint64(len(frame)))
		box := d.dispatcher.Load()
		if box == nil {
			continue
		}
		pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
		box.d.DeliverNetworkPacket(0, pkt)
		pkt.DecRef()
	}
}

// What unwrap found in a read.
const (
	frameOK          = iota
	frameRunt        // too short, or a virtio-net header pointing outside its frame
	frameBadChecksum // a checksum the link verifies is wrong
)

// unwrap returns the Ethernet frame in what one read returned: after its
// virtio-net header, if frames have one, with a checksum the kernel left
// to the stack finished, and with the checksums of an unmarked frame
// verified when the link does that for netstack (verifyRX).
func (d *device) unwrap(b []byte) ([]byte, int) {
	if !d.vnetHdr {
		return b, runtUnless(len(b) >= header.EthernetMinimumSize)
	}
	if len(b) < vnetHdrSize {
		return nil, frameRunt
	}
	h := decodeVnetHdr(b)
	b = b[vnetHdrSize:]
	if len(b) < header.EthernetMinimumSize {
		return nil, frameRunt
	}
	switch {
	case h.flags&vnetNeedsCsum != 0:
		if d.finishRX && !finishChecksum(b, h.csumStart, h.csumOffset) {
			return nil, frameRunt
		}
	case h.flags&vnetDataValid != 0:
	case d.verifyRX && !checksumsValid(b):
		return nil, frameBadChecksum
	}
	return b, frameOK
}

func runtUnless(ok bool) int {
	if ok {
		return frameOK
	}
	return frameRunt
}

// WritePackets implements netstack.LinkWriter: one write(2) per frame, the
// frame gathered from its views (after its virtio-net header, if frames
// have one: then a frame may be a TCP segment of up to 64 KiB that the
// kernel cuts into MSS-sized ones). A frame the kernel refuses is lost and
// counted, as on a wire; only a closed device fails the call.
func (d *device) WritePackets(pkts netstack.PacketBufferList) (int, tcpip.Error) {
	list := pkts.AsSlice()
	i := 0
	var hdr [vnetHdrSize]byte
	var iov [][]byte
	err := d.raw.Write(func(fd uintptr) bool {
		for ; i < len(list); i++ {
			iov = iov[:0]
			if d.vnetHdr {
				h := vnetHdrFor(list[i])
				h.encode(hdr[:])
				iov = append(iov, hdr[:])
			}
			iov = append(iov, list[i].AsSlices()...)
			n, err := unix.Writev(int(fd), iov)
			switch err {
			case nil:
				if d.vnetHdr {
					n -= vnetHdrSize
				}
				d.txFrames.Add(1)
				d.txBytes.Add(uint64(n))
			case unix.EAGAIN:
				return false
			case unix.EINTR:
				i--
			default:
				d.txErrors.Add(1)
			}
		}
		return true
	})
	if err != nil {
		return i, &tcpip.ErrClosedForSend{}
	}
	return len(list), nil
}

func (d *device) IsAttached() bool               { return d.dispatcher.Load() != nil }
func (d *device) MTU() uint32                    { return d.mtu.Load() }
func (d *device) SetMTU(mtu uint32)              { d.mtu.Store(mtu) }
func (d *device) MaxHeaderLength() uint16        { return 0 }
func (d *device) LinkAddress() tcpip.LinkAddress { return d.addr.Load().(tcpip.LinkAddress) }
func (d *device) SetLinkAddress(a tcpip.LinkAddress) {
	d.addr.Store(a)
}
func (d *device) Capabilities() netstack.LinkEndpointCapabilities { return d.caps }
func (d *device) ARPHardwareType() header.ARPHardwareType         { return header.ARPHardwareNone }
func (d *device) AddHeader(*netstack.PacketBuffer)                {}
func (d *device) ParseHeader(*netstack.PacketBuffer) bool         { return true }

func (d *device) SetOnCloseAction(f func()) {
	d.mu.Lock()
	d.onClose = f
	d.mu.Unlock()
}

// Wait implements netstack.NetworkLinkEndpoint: after Close it waits for
// the reader; before, it returns at once. netstack's Stack.Wait calls it
// with the stack's lock held, right after Attach(nil), while the reader may
// be inside the stack waiting for that very lock (a RST for a closed port
// looks up a route); waiting there would deadlock. Stack.Wait calls Close
// once it has released the lock, and Close waits.
func (d *device) Wait() {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		d.readers.Wait()
	}
}

// Close stops the reader, waits for it and closes the descriptor; a device
// that New created disappears with it. Calling it again does nothing.
func (d *device) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	d.dispatcher.Store(nil)
	d.stopLocked()
	onClose := d.onClose
	d.mu.Unlock()
	d.readers.Wait()
	d.file.Close()
	if onClose != nil {
		onClose()
	}
}

// err returns the error that stopped the reader, or nil.
func (d *device) err() error {
	if p := d.readErr.Load(); p != nil {
		return *p
	}
	return nil
}
