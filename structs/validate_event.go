package structs

// Validate implements Validator. The event's size is bounded by serf's
// user event limit, which the endpoint checks while encoding it.
func (r *EventFireRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	e := &r.Event
	v.name("event id", e.ID)
	v.name("event name", e.Name)
	v.name("event node filter", e.NodeFilter)
	v.name("event service filter", e.ServiceFilter)
	v.name("event tag filter", e.TagFilter)
	v.text("event payload", string(e.Payload))
	return v.err
}
