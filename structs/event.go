package structs

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// User events, as Consul's: a small named payload fired into a
// datacenter's LAN gossip pool and kept by every agent that it concerns
// (its filters match) in a bounded list that /v1/event/list shows.
//
// On the wire an event is a serf user event named UserEventPrefix+name
// whose payload is userEventVersion followed by the UserEvent in msgpack.
// Serf bounds the whole message (UserEventSizeLimit), so the payload a
// user may send is whatever is left once the rest is encoded; the agent
// and the server refuse anything larger with a sentence before it reaches
// serf.

// UserEventPrefix starts the serf name of every Meridian user event. Serf
// user events with other names (none are sent today) are not ours and are
// ignored. Consul uses "consul:event:".
const UserEventPrefix = "meridian:event:"

// UserEventSizeLimit is the most bytes a user event may take in serf: the
// serf name plus the encoded event. It is serf's default
// UserEventSizeLimit, which keeps an event within one gossip packet.
const UserEventSizeLimit = 512

// serfUserEventOverhead is what serf adds around a user event's name and
// payload when it encodes it (message type, Lamport time, field names);
// serf compares that encoded size with UserEventSizeLimit too, so the
// limit here leaves room for it.
const serfUserEventOverhead = 64

// userEventVersion is the first byte of an encoded event.
const userEventVersion byte = 1

// MaxUserEventsKept is how many received events an agent keeps for
// /v1/event/list, as Consul's 256.
const MaxUserEventsKept = 256

// UserEvent is one user event, in the shape of Consul's (the JSON of
// /v1/event/fire and /v1/event/list).
type UserEvent struct {
	// ID is a UUID chosen by the agent that fires the event.
	ID string
	// Name is the event's name.
	Name string
	// Payload is the opaque body, at most what the size limit leaves.
	Payload []byte
	// NodeFilter, ServiceFilter and TagFilter are regular expressions:
	// an agent keeps the event only when its node name matches NodeFilter
	// and, with ServiceFilter, one of its local services matches it (and
	// one of that service's tags matches TagFilter, when given).
	NodeFilter    string
	ServiceFilter string
	TagFilter     string
	// Version is the event format's version (1).
	Version int
	// LTime is serf's Lamport time of the event, set on receipt.
	LTime uint64
}

// EventFireRequest asks a server to fire a user event in the LAN pool of
// Datacenter (forwarded to one of its servers when it is another one).
type EventFireRequest struct {
	Datacenter string
	Event      UserEvent
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *EventFireRequest) RequestDatacenter() string { return r.Datacenter }

// EventFireResponse is the answer of Internal.EventFire.
type EventFireResponse struct{}

// SerfUserEventName is the serf name of the event called name.
func SerfUserEventName(name string) string { return UserEventPrefix + name }

// EncodeUserEvent encodes ev for serf and checks that it fits in a serf
// user event; a too large event is a CodeBadRequest error that says by how
// much.
func EncodeUserEvent(ev *UserEvent) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(userEventVersion)
	if err := codec.NewEncoder(&buf, NewMsgpackHandle()).Encode(ev); err != nil {
		return nil, fmt.Errorf("encode user event: %w", err)
	}
	size := len(SerfUserEventName(ev.Name)) + buf.Len() + serfUserEventOverhead
	if size > UserEventSizeLimit {
		return nil, BadRequest("User event is too large: with its name, filters and payload of %d bytes it takes %d bytes, more than the %d bytes a gossip user event may carry; keep the payload small (under 100 bytes)",
			len(ev.Payload), size, UserEventSizeLimit)
	}
	return buf.Bytes(), nil
}

// DecodeUserEvent reads an event received from serf under serfName and
// checks it: the version, a UUID ID, the name the serf name gives.
func DecodeUserEvent(serfName string, payload []byte) (*UserEvent, error) {
	name, ok := strings.CutPrefix(serfName, UserEventPrefix)
	if !ok {
		return nil, fmt.Errorf("serf event %q is not a user event", serfName)
	}
	if len(payload) == 0 || payload[0] != userEventVersion {
		return nil, fmt.Errorf("user event %q: unknown format", name)
	}
	var ev UserEvent
	if err := codec.NewDecoderBytes(payload[1:], NewMsgpackHandle()).Decode(&ev); err != nil {
		return nil, fmt.Errorf("decode user event %q: %w", name, err)
	}
	if ev.Name != name {
		return nil, fmt.Errorf("user event %q carries the name %q", name, ev.Name)
	}
	if !IsUUID(ev.ID) {
		return nil, fmt.Errorf("user event %q has an invalid id %q", name, ev.ID)
	}
	return &ev, nil
}

// IsUUID reports whether s is a UUID in its 36-character text form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", rune(c)) {
				return false
			}
		}
	}
	return true
}

// UserEventIndex turns an event ID into the index of /v1/event/list: the
// event list has no Raft index, so, as Consul does, its X-Consul-Index is
// derived from the ID of the newest event (the two halves of the UUID
// XORed), which the official client reproduces with Event().IDToIndex.
func UserEventIndex(id string) uint64 {
	if !IsUUID(id) {
		return 0
	}
	lower := id[0:8] + id[9:13] + id[14:18]
	upper := id[19:23] + id[24:36]
	lo, err1 := strconv.ParseUint(lower, 16, 64)
	hi, err2 := strconv.ParseUint(upper, 16, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return lo ^ hi
}
