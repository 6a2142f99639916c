package server

import (
	"github.com/meridian-sd/meridian/structs"
)

// displayFailoverStatus is the sticky state shown with an execution: the
// stored one, or an inactive one while the leader has written none.
func (s *Server) displayFailoverStatus(q *structs.PreparedQuery, st *structs.PreparedQueryFailoverStatus) *structs.PreparedQueryFailoverStatus {
	if st != nil {
		return st
	}
	return &structs.PreparedQueryFailoverStatus{QueryID: q.ID}
}
