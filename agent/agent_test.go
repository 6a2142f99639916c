package agent

import (
	"fmt"
	"github.com/meridian-sd/meridian/version"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/serf/serf"
)

func TestAgentMembersAndCatalog(t *testing.T) {
	srv := StartTestAgent(t, "-server", "-bootstrap")
	srv.WaitForLeader(t)
	cl := StartTestAgent(t)
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err != nil {
		t.Fatalf("join: %v", err)
	}
	WaitFor(t, "two alive LAN members", 10*time.Second, func() error {
		members, err := cl.Client.Agent().Members(false)
		if err != nil {
			return err
		}
		alive := 0
		for _, m := range members {
			if m.Status == int(serf.StatusAlive) {
				alive++
			}
		}
		if alive != 2 {
			return fmt.Errorf("%d alive", alive)
		}
		return nil
	})
	// The client's catalog reads go through the server.
	WaitFor(t, "both nodes in the catalog", 10*time.Second, func() error {
		nodes, meta, err := cl.Client.Catalog().Nodes(nil)
		if err != nil {
			return err
		}
		if len(nodes) != 2 || meta.LastIndex == 0 || !meta.KnownLeader {
			return fmt.Errorf("nodes %d index %d leader %v", len(nodes), meta.LastIndex, meta.KnownLeader)
		}
		return nil
	})
	// A client cannot join the WAN pool.
	if err := cl.Client.Agent().Join(srv.WANAddr(), true); err == nil {
		t.Fatal("a client joined the WAN pool")
	}
	// An unknown datacenter is Consul's error text.
	_, _, err := cl.Client.Catalog().Nodes(&api.QueryOptions{Datacenter: "nope"})
	if se, ok := err.(api.StatusError); !ok || se.Code != 500 || se.Body != "No path to datacenter" {
		t.Fatalf("unknown dc: %v", err)
	}
}

func TestAgentVersion(t *testing.T) {
	a := StartTestAgent(t)
	v, err := a.Client.Agent().Version()
	if err != nil {
		t.Fatal(err)
	}
	if v["HumanVersion"] != version.Human() {
		t.Fatalf("HumanVersion = %v, want %s", v["HumanVersion"], version.Human())
	}
	for _, k := range []string{"SHA", "BuildDate", "FIPS"} {
		if _, ok := v[k]; !ok {
			t.Errorf("no %s in %v", k, v)
		}
	}
}
