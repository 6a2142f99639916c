package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fabric is the WAN between the lab's datacenters: what every relay
// consults to delay or drop traffic between two datacenters. See the
// package comment for how it works.
type fabric struct {
	// rtt is the round trip per pair; a missing pair has none.
	rtt map[Pair]time.Duration
	// hosts maps agent addresses to datacenters (UDP sources).
	hosts map[netip.Addr]string
	// tcpSource finds the datacenter of the agent at the other end of an
	// accepted connection; "" when unknown, and gone when that end is
	// closed already.
	tcpSource func(c net.Conn) (dc string, gone bool)

	mu    sync.Mutex
	cut   map[string]bool
	conns map[*link]struct{}

	// unidentified counts TCP connections whose source was not found.
	unidentified atomic.Int64
}

func newFabric(rtt map[Pair]time.Duration, hosts map[netip.Addr]string, tcpSource func(net.Conn) (string, bool)) *fabric {
	if tcpSource == nil {
		tcpSource = func(net.Conn) (string, bool) { return "", false }
	}
	return &fabric{rtt: rtt, hosts: hosts, tcpSource: tcpSource, cut: map[string]bool{}, conns: map[*link]struct{}{}}
}

// oneWay is the delay of one direction between src and dst: half their
// round trip. An unknown source, or traffic inside a datacenter, gets
// none.
func (f *fabric) oneWay(src, dst string) time.Duration {
	if src == "" || src == dst {
		return 0
	}
	return f.rtt[NewPair(src, dst)] / 2
}

// blocked reports whether traffic between src and dst is cut. An unknown
// source is outside every datacenter.
func (f *fabric) blocked(src, dst string) bool {
	if src == dst {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cut[dst] || (src != "" && f.cut[src])
}

// partition cuts dc's WAN links, closing the relayed connections that
// cross them. It reports whether dc was connected before.
func (f *fabric) partition(dc string) bool {
	f.mu.Lock()
	was := f.cut[dc]
	f.cut[dc] = true
	var doomed []*link
	for l := range f.conns {
		if l.src != l.dst && (l.src == dc || l.dst == dc) {
			doomed = append(doomed, l)
		}
	}
	f.mu.Unlock()
	for _, l := range doomed {
		l.close()
	}
	return !was
}

// heal restores dc's WAN links. It reports whether dc was cut.
func (f *fabric) heal(dc string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	was := f.cut[dc]
	delete(f.cut, dc)
	return was
}

// partitioned reports whether dc is cut off.
func (f *fabric) partitioned(dc string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cut[dc]
}

func (f *fabric) addLink(l *link) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.src != l.dst && (f.cut[l.dst] || (l.src != "" && f.cut[l.src])) {
		return false
	}
	f.conns[l] = struct{}{}
	return true
}

func (f *fabric) dropLink(l *link) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, l)
}

// link is one relayed TCP connection.
type link struct {
	src, dst     string
	client, peer net.Conn
	once         sync.Once
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		if l.peer != nil {
			l.peer.Close()
		}
	})
}

// relay stands for one server on its relay address: it forwards the WAN
// gossip port (TCP and UDP) and the server RPC port (TCP) to the server.
type relay struct {
	f      *fabric
	dc     string
	listen string
	target string

	mu      sync.Mutex
	closers []io.Closer
	closed  bool
	wg      sync.WaitGroup
}

// relay ports: TCP for RPC and WAN gossip streams, UDP for WAN gossip.
var (
	relayTCPPorts = []int{PortServer, PortSerfWAN}
	relayUDPPorts = []int{PortSerfWAN}
)

// startRelay listens on listen and forwards to target, both addresses
// without ports. Close stops it and waits for its goroutines.
func startRelay(f *fabric, dc, listen, target string) (*relay, error) {
	r := &relay{f: f, dc: dc, listen: listen, target: target}
	for _, p := range relayTCPPorts {
		ln, err := net.Listen("tcp", net.JoinHostPort(listen, strconv.Itoa(p)))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("relay for %s: listen: %w", target, err)
		}
		r.track(ln)
		r.wg.Add(1)
		go r.acceptLoop(ln, net.JoinHostPort(target, strconv.Itoa(p)))
	}
	for _, p := range relayUDPPorts {
		in, err := net.ListenPacket("udp4", net.JoinHostPort(listen, strconv.Itoa(p)))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("relay for %s: listen: %w", target, err)
		}
		r.track(in)
		out, err := net.ListenPacket("udp4", net.JoinHostPort(listen, "0"))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("relay for %s: udp socket: %w", target, err)
		}
		r.track(out)
		dst, err := net.ResolveUDPAddr("udp4", net.JoinHostPort(target, strconv.Itoa(p)))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("relay for %s: %w", target, err)
		}
		r.wg.Add(2)
		go r.udpLoop(in, out, dst)
		go r.drain(out)
	}
	return r, nil
}

// track registers c to be closed by Close; after Close it closes c now
// and reports false.
func (r *relay) track(c io.Closer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return false
	}
	r.closers = append(r.closers, c)
	return true
}

// Close stops the relay: listeners and connections are closed and its
// goroutines have ended when it returns.
func (r *relay) Close() {
	r.mu.Lock()
	r.closed = true
	cs := r.closers
	r.closers = nil
	r.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	r.wg.Wait()
}

// udpLoop forwards each datagram after its pair's one-way delay, unless
// the pair is cut when it arrives or when it leaves.
func (r *relay) udpLoop(in, out net.PacketConn, dst net.Addr) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := in.ReadFrom(buf)
		if err != nil {
			return
		}
		src := ""
		if ua, ok := from.(*net.UDPAddr); ok {
			if ip, ok := netip.AddrFromSlice(ua.IP); ok {
				src = r.f.hosts[ip.Unmap()]
			}
		}
		if r.f.blocked(src, r.dc) {
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		d := r.f.oneWay(src, r.dc)
		if d == 0 {
			out.WriteTo(pkt, dst)
			continue
		}
		time.AfterFunc(d, func() {
			if !r.f.blocked(src, r.dc) {
				out.WriteTo(pkt, dst) // fails harmlessly once closed
			}
		})
	}
}

// drain discards what arrives on the outbound socket: memberlist answers
// to advertised addresses, not to a packet's source.
func (r *relay) drain(pc net.PacketConn) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		if _, _, err := pc.ReadFrom(buf); err != nil {
			return
		}
	}
}

func (r *relay) acceptLoop(ln net.Listener, target string) {
	defer r.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go r.proxy(c, target)
	}
}

// proxy relays one TCP connection, delaying each direction by its pair's
// one-way delay.
func (r *relay) proxy(client net.Conn, target string) {
	defer r.wg.Done()
	if !r.track(client) {
		return
	}
	src, gone := r.f.tcpSource(client)
	if gone {
		client.Close()
		return
	}
	if src == "" {
		r.f.unidentified.Add(1)
	}
	l := &link{src: src, dst: r.dc, client: client}
	if !r.f.addLink(l) {
		client.Close()
		return
	}
	defer r.f.dropLink(l)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	var d net.Dialer
	peer, err := d.DialContext(ctx, "tcp", target)
	cancel()
	if err != nil {
		client.Close()
		return
	}
	if !r.track(peer) {
		client.Close()
		return
	}
	r.f.mu.Lock()
	l.peer = peer
	_, live := r.f.conns[l]
	r.f.mu.Unlock()
	if !live { // cut while dialing
		l.close()
		return
	}
	delay := r.f.oneWay(src, r.dc)
	done := make(chan struct{}, 2)
	go func() {
		delayedCopy(peer, client, delay, l.close)
		done <- struct{}{}
	}()
	go func() {
		delayedCopy(client, peer, delay, l.close)
		done <- struct{}{}
	}()
	<-done
	<-done
}

// delayedCopy copies src to dst, each chunk delay after it was read, in
// order, until either side fails; then it calls stop (which must unblock
// src by closing it) and returns once its reader has ended.
func delayedCopy(dst io.Writer, src io.Reader, delay time.Duration, stop func()) {
	if delay == 0 {
		io.Copy(dst, src)
		stop()
		return
	}
	type chunk struct {
		at   time.Time
		data []byte
	}
	ch := make(chan chunk, 256)
	quit := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(ch)
		buf := make([]byte, 32*1024)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case ch <- chunk{at: time.Now().Add(delay), data: append([]byte(nil), buf[:n]...)}:
				case <-quit:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	close(quit)
	stop()
	<-readerDone
}
