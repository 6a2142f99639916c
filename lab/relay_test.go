package lab

import (
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"
)

// Addresses of the relay tests: 127.77.1.x, used by no other test.
const (
	hostA      = "127.77.1.1" // an agent of dcA
	hostB      = "127.77.1.2" // a server of dcB, the relay's target
	relayB     = "127.77.1.3" // its relay
	hostB2     = "127.77.1.4" // another agent of dcB
	hostAnyone = "127.77.1.9" // no agent of the lab
)

type relayRig struct {
	f     *fabric
	udp   net.PacketConn // the target's gossip socket
	echo  net.Listener   // the target's RPC port, echoing
	relay *relay
}

func newRelayRig(t *testing.T, rtt time.Duration) *relayRig {
	t.Helper()
	hosts := map[netip.Addr]string{
		netip.MustParseAddr(hostA):  "dcA",
		netip.MustParseAddr(hostB):  "dcB",
		netip.MustParseAddr(hostB2): "dcB",
	}
	self := os.Getpid()
	// Connections from this test process count as dcA's: that exercises
	// the /proc lookup of the connection's owner.
	src := func(c net.Conn) (string, bool) {
		switch tcpOwner(c, []int{self}) {
		case self:
			return "dcA", false
		case -1:
			return "", true
		}
		return "", false
	}
	r := &relayRig{f: newFabric(map[Pair]time.Duration{NewPair("dcA", "dcB"): rtt}, hosts, src)}
	var err error
	if r.udp, err = net.ListenPacket("udp4", net.JoinHostPort(hostB, strconv.Itoa(PortSerfWAN))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.udp.Close() })
	if r.echo, err = net.Listen("tcp", net.JoinHostPort(hostB, strconv.Itoa(PortServer))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.echo.Close() })
	go func() {
		for {
			c, err := r.echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	if r.relay, err = startRelay(r.f, "dcB", relayB, hostB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.relay.Close)
	return r
}

// sendUDP sends msg from a socket bound to from to the relay's gossip port.
func sendUDP(t *testing.T, from, msg string) time.Time {
	t.Helper()
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(from, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dst, _ := net.ResolveUDPAddr("udp4", net.JoinHostPort(relayB, strconv.Itoa(PortSerfWAN)))
	at := time.Now()
	if _, err := pc.WriteTo([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
	return at
}

// recvUDP returns the next datagram the target receives.
func (r *relayRig) recvUDP(t *testing.T) (string, time.Time) {
	t.Helper()
	buf := make([]byte, 100)
	r.udp.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := r.udp.ReadFrom(buf)
	if err != nil {
		t.Fatalf("target received nothing: %v", err)
	}
	return string(buf[:n]), time.Now()
}

func TestRelayUDPDelayPerPair(t *testing.T) {
	r := newRelayRig(t, 80*time.Millisecond)
	sent := sendUDP(t, hostA, "ping")
	msg, at := r.recvUDP(t)
	if msg != "ping" || at.Sub(sent) < 40*time.Millisecond {
		t.Errorf("dcA to dcB: %q after %s, want ping after at least half the 80ms round trip", msg, at.Sub(sent))
	}
	// Inside dcB and from outside the lab there is no latency to inject;
	// both arrive (the order does not matter here).
	sendUDP(t, hostB2, "local")
	if msg, _ := r.recvUDP(t); msg != "local" {
		t.Errorf("dcB to dcB: got %q", msg)
	}
	if d := r.f.oneWay("dcB", "dcB"); d != 0 {
		t.Errorf("one-way delay inside dcB = %s", d)
	}
	if d := r.f.oneWay("", "dcB"); d != 0 {
		t.Errorf("one-way delay from an unknown source = %s", d)
	}
}

func TestRelayUDPPartition(t *testing.T) {
	r := newRelayRig(t, 0)
	for _, cut := range []string{"dcB", "dcA"} {
		if !r.f.partition(cut) {
			t.Fatalf("partition %s: was already cut", cut)
		}
		sendUDP(t, hostA, "dropped")
		// Inside dcB nothing is cut.
		sendUDP(t, hostB2, "local")
		if msg, _ := r.recvUDP(t); msg != "local" {
			t.Fatalf("%s cut: first datagram %q, want local (the one from dcA must be dropped)", cut, msg)
		}
		if !r.f.heal(cut) {
			t.Fatalf("heal %s: was not cut", cut)
		}
		sendUDP(t, hostA, "healed")
		if msg, _ := r.recvUDP(t); msg != "healed" {
			t.Fatalf("healed %s: got %q, want healed", cut, msg)
		}
	}
	// An unknown source is cut off when the destination is.
	r.f.partition("dcB")
	sendUDP(t, hostAnyone, "dropped")
	sendUDP(t, hostB2, "local")
	if msg, _ := r.recvUDP(t); msg != "local" {
		t.Fatalf("unknown source to a cut dcB: got %q", msg)
	}
}

// roundTrip writes msg on c and reads it back from the echo.
func roundTrip(c net.Conn, msg string) (time.Duration, error) {
	start := time.Now()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return 0, err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func dialRelay(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort(relayB, strconv.Itoa(PortServer)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRelayTCPDelayAndPartition(t *testing.T) {
	r := newRelayRig(t, 60*time.Millisecond)
	c := dialRelay(t)
	d, err := roundTrip(c, "hello")
	if err != nil {
		t.Fatal(err)
	}
	// The source was traced through /proc to this process, so dcA's round
	// trip applies, half each way.
	if d < 60*time.Millisecond {
		t.Errorf("TCP round trip through the relay took %s, want at least the injected 60ms", d)
	}
	if n := r.f.unidentified.Load(); n != 0 {
		t.Errorf("%d connections not traced to their process", n)
	}

	r.f.partition("dcB")
	// The open connection is closed...
	if _, err := roundTrip(c, "again"); err == nil {
		t.Error("a relayed connection survived the partition")
	}
	// ...and a new one is closed once accepted.
	if _, err := roundTrip(dialRelay(t), "new"); err == nil {
		t.Error("a new connection got through a partition")
	}
	r.f.heal("dcB")
	if _, err := roundTrip(dialRelay(t), "back"); err != nil {
		t.Errorf("after heal: %v", err)
	}
}

func TestTCPOwner(t *testing.T) {
	ln, err := net.Listen("tcp", net.JoinHostPort(hostB2, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A process list without this process: nobody owns the connection.
	if pid := tcpOwner(c, []int{1 << 22}); pid != 0 {
		t.Errorf("owner among no processes = %d", pid)
	}
	if pid := tcpOwner(c, []int{os.Getpid()}); pid != os.Getpid() {
		t.Errorf("owner = %d, want this process %d", pid, os.Getpid())
	}
	// A caller that hung up before anybody looked: its end is orphaned.
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	c2.Close()
	if pid := tcpOwner(s2, []int{os.Getpid()}); pid != -1 {
		t.Errorf("owner of a connection closed by its caller = %d, want -1", pid)
	}
}
