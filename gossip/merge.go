package gossip

import (
	"fmt"

	"github.com/hashicorp/serf/serf"
)

// mergeDelegate refuses members that do not belong in the pool. It is
// called by serf both on join and on push/pull merges, so a bad member is
// kept out however it arrives.
type mergeDelegate struct {
	dc  string
	wan bool
}

// NotifyMerge implements serf.MergeDelegate.
func (d *mergeDelegate) NotifyMerge(members []*serf.Member) error {
	for _, m := range members {
		if err := d.check(m); err != nil {
			return err
		}
	}
	return nil
}

func (d *mergeDelegate) check(m *serf.Member) error {
	if d.wan {
		meta, ok := IsServer(*m)
		if !ok {
			return fmt.Errorf("member %q is not a server and cannot join the wan pool", m.Name)
		}
		if want := WANName(meta.Name, meta.Datacenter); m.Name != want {
			return fmt.Errorf("member %q has a bad wan name, want %q", m.Name, want)
		}
		return nil
	}
	if dc := m.Tags[TagDatacenter]; dc != d.dc {
		return fmt.Errorf("member %q is part of datacenter %q, not %q", m.Name, dc, d.dc)
	}
	return nil
}
