package e2e

// A delaying relay, to give datacenters on one machine the latencies of
// datacenters far apart. Every server of a datacenter advertises its WAN
// address as a relay address; the relay forwards UDP and TCP to the real
// server after a delay. A gossip ping from A to B goes through B's relay
// and its ack through A's relay (memberlist acks to the advertised address),
// so the round trip between two datacenters is the sum of their relays'
// delays: with delays 0, 20ms and 80ms, dc1-dc2 is 20ms, dc1-dc3 80ms and
// dc2-dc3 100ms. Server RPCs across datacenters (to the WAN address and the
// server port) pass the relay as well.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// relayHost is the relay address standing for server host x.
func relayHost(x int) string {
	return fmt.Sprintf("127.1.%d.%d", suite.net, x)
}

// relay forwards some ports of one host to another, delaying what flows
// toward the target.
type relay struct {
	delay  time.Duration
	target string

	mu      sync.Mutex
	closers []io.Closer
	closed  bool
	wg      sync.WaitGroup
}

// startRelay listens on listenHost for the given TCP and UDP ports and
// forwards to targetHost on the same ports. It stops when the test ends.
func startRelay(t testing.TB, listenHost, targetHost string, delay time.Duration, tcpPorts, udpPorts []int) *relay {
	t.Helper()
	r := &relay{delay: delay, target: targetHost}
	t.Cleanup(r.close)
	for _, p := range tcpPorts {
		ln, err := net.Listen("tcp", net.JoinHostPort(listenHost, strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("relay listen tcp: %v", err)
		}
		r.track(ln)
		r.wg.Add(1)
		go r.acceptLoop(ln, net.JoinHostPort(targetHost, strconv.Itoa(p)))
	}
	for _, p := range udpPorts {
		in, err := net.ListenPacket("udp", net.JoinHostPort(listenHost, strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("relay listen udp: %v", err)
		}
		out, err := net.ListenPacket("udp", net.JoinHostPort(listenHost, "0"))
		if err != nil {
			t.Fatalf("relay udp socket: %v", err)
		}
		r.track(in)
		r.track(out)
		dst, err := net.ResolveUDPAddr("udp", net.JoinHostPort(targetHost, strconv.Itoa(p)))
		if err != nil {
			t.Fatal(err)
		}
		r.wg.Add(2)
		go r.udpLoop(in, out, dst)
		go r.drain(out)
	}
	return r
}

func (r *relay) track(c io.Closer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return
	}
	r.closers = append(r.closers, c)
}

func (r *relay) close() {
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

// udpLoop forwards each datagram after the delay.
func (r *relay) udpLoop(in, out net.PacketConn, dst net.Addr) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := in.ReadFrom(buf)
		if err != nil {
			return
		}
		pkt := append([]byte(nil), buf[:n]...)
		time.AfterFunc(r.delay, func() { out.WriteTo(pkt, dst) })
	}
}

// drain discards what arrives on the outbound socket: memberlist answers
// to advertised addresses, not to packet sources.
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

// proxy pipes one TCP connection, delaying the client-to-target direction.
func (r *relay) proxy(client net.Conn, target string) {
	defer r.wg.Done()
	r.track(client)
	server, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	r.track(server)
	done := make(chan struct{}, 2)
	go func() {
		delayedCopy(server, client, r.delay)
		server.Close()
		done <- struct{}{}
	}()
	go func() {
		io.Copy(client, server)
		client.Close()
		done <- struct{}{}
	}()
	<-done
	<-done
}

// delayedCopy copies src to dst, each chunk delay after it was read, in
// order.
func delayedCopy(dst io.Writer, src io.Reader, delay time.Duration) {
	type chunk struct {
		at   time.Time
		data []byte
	}
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		buf := make([]byte, 32*1024)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{at: time.Now().Add(delay), data: append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		if d := time.Until(c.at); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(c.data); err != nil {
			// Drain so the reader can finish.
			for range ch {
			}
			return
		}
	}
}

func TestRelayDelays(t *testing.T) {
	target := host(250)
	echo, err := net.Listen("tcp", net.JoinHostPort(target, "7001"))
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	startRelay(t, relayHost(250), target, 30*time.Millisecond, []int{7001}, nil)
	c, err := net.Dial("tcp", net.JoinHostPort(relayHost(250), "7001"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); string(buf) != "ping" || rtt < 30*time.Millisecond {
		t.Fatalf("echo through the relay: %q after %s, want ping after at least 30ms", buf, rtt)
	}
	if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
}
