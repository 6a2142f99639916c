package structs

// KeyringOp is a gossip keyring operation.
type KeyringOp string

// Keyring operations, as /v1/operator/keyring maps its methods to them.
const (
	KeyringList    KeyringOp = "list"
	KeyringInstall KeyringOp = "install"
	KeyringUse     KeyringOp = "use"
	KeyringRemove  KeyringOp = "remove"
)

// MaxRelayFactor caps ?relay-factor, as Consul's.
const MaxRelayFactor = 5

// KeyringRequest asks a server to run a keyring operation on the gossip
// pools: the WAN pool, its own datacenter's LAN pool and, through one
// server of each, the LAN pools of the other datacenters.
type KeyringRequest struct {
	Operation KeyringOp
	// Key is the base64 key to install, use or remove; empty to list.
	Key string
	// RelayFactor makes each member relay its answer through this many
	// other members (0 to MaxRelayFactor).
	RelayFactor uint8
	// LocalOnly limits a list to the local datacenter's LAN pool.
	LocalOnly bool
	// Forwarded is set on the copy sent to another datacenter's server,
	// which then covers only its own LAN pool.
	Forwarded bool
	// Token is the caller's ACL token (keyring:read to list,
	// keyring:write to change); empty means anonymous. Never logged.
	Token string
}

// RequestToken is the request's ACL token (TokenCarrier).
func (r *KeyringRequest) RequestToken() string { return r.Token }

// SetToken sets the request's ACL token (TokenCarrier).
func (r *KeyringRequest) SetToken(token string) { r.Token = token }

// RequestDatacenter implements RPCInfo: the operation starts in the
// receiving server's datacenter.
func (r *KeyringRequest) RequestDatacenter() string { return "" }

// IsRead implements RPCInfo: only listing changes nothing, so only a list
// may be retried on another server after it was sent.
func (r *KeyringRequest) IsRead() bool { return r.Operation == KeyringList }

// AllowStaleRead implements RPCInfo: any server runs keyring operations.
func (r *KeyringRequest) AllowStaleRead() bool { return true }

// KeyringResponse is the outcome of a keyring operation in one gossip
// pool, in the shape of Consul's.
type KeyringResponse struct {
	// WAN marks the WAN pool; otherwise it is Datacenter's LAN pool.
	WAN        bool
	Datacenter string
	// Segment is Consul Enterprise's network segment; always empty.
	Segment string
	// Messages are the members' remarks and errors, by member name.
	Messages map[string]string
	// Keys counts, for each base64 key, the members holding it.
	Keys map[string]int
	// PrimaryKeys counts, for each base64 key, the members using it as
	// their primary key.
	PrimaryKeys map[string]int
	// NumNodes is how many members the pool had when the query went out.
	NumNodes int
	// Error says why the operation failed in this pool; empty on success.
	Error string
}

// KeyringResponses are the outcomes of a keyring operation, one per pool.
type KeyringResponses struct {
	Responses []*KeyringResponse
}
