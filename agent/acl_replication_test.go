package agent

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/structs"
)

const replTestMgmt = "5d2f8a1c-3e4b-4c6d-8e9f-0a1b2c3d4e5f"

// TestACLReplicationAPI: GET /v1/acl/replication through the official
// client, in the secondary and through ?dc= from the primary; a secondary
// without a replication token does not replicate until one is set through
// the agent token API; a token created in dc1 is read in dc2 from dc2's
// copy; with ACLs off the endpoint is 401 as Consul's.
func TestACLReplicationAPI(t *testing.T) {
	primary := `primary_datacenter = "dc1"
acl {
  enabled = true
  default_policy = "deny"
  enable_token_replication = true
  tokens {
    initial_management = "` + replTestMgmt + `"
    replication = "` + replTestMgmt + `"
  }
}`
	dc1 := StartTestAgent(t, "-server", "-bootstrap", "-datacenter=dc1", "-hcl="+primary)
	// dc2 starts without a replication token; it is set through the
	// agent token API.
	secondary := `primary_datacenter = "dc1"
acl {
  enabled = true
  default_policy = "deny"
  enable_token_replication = true
}`
	dc2 := StartTestAgent(t, "-server", "-bootstrap", "-datacenter=dc2", "-hcl="+secondary)
	dc1.WaitForLeader(t)
	dc2.WaitForLeader(t)
	m1 := withToken(t, dc1, replTestMgmt).ACL()
	var pol *api.ACLPolicy
	WaitFor(t, "the management token", 10*time.Second, func() error {
		var err error
		pol, _, err = m1.PolicyCreate(&api.ACLPolicy{Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}, nil)
		return err
	})
	if err := withToken(t, dc1, replTestMgmt).Agent().Join(dc2.WANAddr(), true); err != nil {
		t.Fatal(err)
	}
	tok, _, err := m1.TokenCreate(&api.ACLToken{Description: "app", Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	idle, _, err := dc2.Client.ACL().Replication(nil)
	if err != nil || idle.Enabled || idle.Running || idle.SourceDatacenter != "dc1" {
		t.Errorf("dc2 status without a replication token: %+v %v", idle, err)
	}
	// dc2 resolves the management token through dc1 once it reaches it.
	WaitFor(t, "the replication token set in dc2", 10*time.Second, func() error {
		_, err := withToken(t, dc2, replTestMgmt).Agent().UpdateReplicationACLToken(replTestMgmt, nil)
		return err
	})
	var st *api.ACLReplicationStatus
	WaitFor(t, "dc2 to replicate the token", 15*time.Second, func() error {
		var err error
		st, _, err = dc2.Client.ACL().Replication(nil)
		if err != nil {
			return err
		}
		if st.ReplicatedTokenIndex < tok.CreateIndex {
			return fmt.Errorf("status %+v, token at %d", st, tok.CreateIndex)
		}
		return nil
	})
	if !st.Enabled || !st.Running || st.SourceDatacenter != "dc1" || st.ReplicationType != "tokens" ||
		st.ReplicatedIndex < pol.CreateIndex || st.ReplicatedRoleIndex == 0 || st.LastSuccess.IsZero() {
		t.Errorf("dc2 status: %+v", st)
	}
	viaDC1, _, err := dc1.Client.ACL().Replication(&api.QueryOptions{Datacenter: "dc2"})
	if err != nil || !viaDC1.Enabled || viaDC1.SourceDatacenter != "dc1" {
		t.Errorf("dc2 status through dc1: %+v %v", viaDC1, err)
	}
	own, _, err := dc1.Client.ACL().Replication(nil)
	if err != nil || own.Enabled || own.Running {
		t.Errorf("dc1 status: %+v %v", own, err)
	}

	// dc2 answers from its copy: the token's own read, and a list that
	// shows its policy.
	self, _, err := withToken(t, dc2, tok.SecretID).ACL().TokenReadSelf(nil)
	if err != nil || self.AccessorID != tok.AccessorID || len(self.Policies) != 1 || self.Policies[0].Name != "app" {
		t.Errorf("token self in dc2: %+v %v", self, err)
	}
	list, _, err := withToken(t, dc2, replTestMgmt).ACL().PolicyList(&api.QueryOptions{Datacenter: "dc2"})
	if err != nil || len(list) != 2 {
		t.Errorf("policies in dc2: %+v %v", list, err)
	}

	// A local token of dc2: created and held there only, resolved by a
	// client agent of dc2 through its server, unknown to dc1.
	local, _, err := withToken(t, dc2, replTestMgmt).ACL().TokenCreate(&api.ACLToken{Description: "dc2 local", Local: true,
		Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil || !local.Local {
		t.Fatalf("local token in dc2: %+v %v", local, err)
	}
	if _, _, err := m1.TokenRead(local.AccessorID, nil); err == nil {
		t.Error("dc1 knows dc2's local token")
	}
	if _, _, err := dc1.ResolveToken(local.SecretID); !structs.IsErr(err, structs.ErrACLNotFound) {
		t.Errorf("dc2's local token in dc1: %v", err)
	}
	cl := StartTestAgent(t, "-datacenter=dc2", "-join="+dc2.LANAddr(), "-hcl="+secondary)
	for _, secret := range []string{local.SecretID, tok.SecretID} {
		var authz *acl.Authorizer
		WaitFor(t, "dc2's client to resolve", 10*time.Second, func() error {
			var err error
			authz, _, err = cl.ResolveToken(secret)
			return err
		})
		if !authz.Allowed(acl.ResourceKey, "app/x", acl.Write) || authz.Allowed(acl.ResourceKey, "other/z", acl.Write) {
			t.Error("dc2's client has the wrong rights")
		}
	}

	off := StartTestAgent(t, "-server", "-bootstrap")
	off.WaitForLeader(t)
	_, _, err = off.Client.ACL().Replication(nil)
	wantStatus(t, "replication status with ACLs off", err, http.StatusUnauthorized, "ACL support disabled")
}
