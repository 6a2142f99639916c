package agent

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

const fastCoordinates = `-hcl=sync_coordinate_interval_min = "100ms"`

func TestCoordinatesAndNear(t *testing.T) {
	srv := StartTestAgent(t, "-server", "-bootstrap", fastCoordinates)
	srv.WaitForLeader(t)
	cl := StartTestAgent(t, fastCoordinates)
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err != nil {
		t.Fatal(err)
	}

	// Both agents send their LAN coordinate; the leader writes them.
	WaitFor(t, "coordinates of both nodes", 15*time.Second, func() error {
		coords, meta, err := cl.Client.Coordinate().Nodes(nil)
		if err != nil {
			return err
		}
		if len(coords) != 2 || meta.LastIndex == 0 {
			return fmt.Errorf("%d coordinates", len(coords))
		}
		for _, c := range coords {
			if c.Coord == nil || len(c.Coord.Vec) == 0 {
				return fmt.Errorf("empty coordinate for %s", c.Node)
			}
		}
		return nil
	})
	one, _, err := cl.Client.Coordinate().Node(cl.Name, nil)
	if err != nil || len(one) != 1 || one[0].Node != cl.Name {
		t.Fatalf("coordinate of %s: %v %+v", cl.Name, err, one)
	}
	if _, _, err := cl.Client.Coordinate().Node("no-such-node", nil); err == nil {
		t.Fatal("coordinate of an unknown node: no error")
	}

	// ?near=_agent puts the asking agent first.
	for _, a := range []*TestAgent{srv, cl} {
		nodes, _, err := a.Client.Catalog().Nodes(&api.QueryOptions{Near: "_agent"})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 2 || nodes[0].Node != a.Name {
			t.Fatalf("near=_agent from %s: first is %s", a.Name, nodes[0].Node)
		}
	}

	// The WAN view of the one datacenter.
	dcs, err := cl.Client.Coordinate().Datacenters()
	if err != nil || len(dcs) != 1 || dcs[0].Datacenter != "dc1" || len(dcs[0].Coordinates) != 1 {
		t.Fatalf("coordinate datacenters: %v %+v", err, dcs)
	}

	// Bad updates are the caller's fault.
	for _, body := range []string{`{`, `{"Node":"x"}`, `{"Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.00001}}`} {
		req, _ := http.NewRequest(http.MethodPut, "http://"+cl.HTTPAddr+"/v1/coordinate/update", bytes.NewBufferString(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("update %s: status %d, want 400", body, resp.StatusCode)
		}
	}
}
