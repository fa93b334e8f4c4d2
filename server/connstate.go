package server

import "strconv"

// ConnState is a connection's state as Config.ConnState reports it, after
// net/http's ConnState: every connection goes New, then between Active and
// Idle any number of times, then Closed, once.
type ConnState int

const (
	// ConnNew: the connection was accepted. A connection refused at once
	// (Config.MaxConns, shutting down) is reported New, then Closed.
	ConnNew ConnState = iota
	// ConnActive: requests of the connection were dispatched to the handler
	// while it was new or idle.
	ConnActive
	// ConnIdle: every request dispatched so far is answered and its answer
	// taken by the socket: the connection
	// waits for its next request. Reported at the end of the event loop's
	// pass that saw it.
	ConnIdle
	// ConnClosed: the connection closed, for the CloseReason reported with it.
	ConnClosed
)

// connStateNames are the states' names, by value.
var connStateNames = [...]string{ConnNew: "new", ConnActive: "active", ConnIdle: "idle", ConnClosed: "closed"}

// String returns the state's name.
func (st ConnState) String() string {
	if st >= 0 && int(st) < len(connStateNames) {
		return connStateNames[st]
	}
	return "ConnState(" + strconv.Itoa(int(st)) + ")"
}

// reportState calls Config.ConnState for cs, when set (event loop).
func (s *Server) reportState(id uint64, st ConnState, reason CloseReason) {
	if s.cfg.ConnState != nil {
		s.cfg.ConnState(id, st, reason)
	}
}

// reportRefused reports a connection refused in OnOpen: New, then Closed
// (event loop). It costs nothing when Config.ConnState is nil.
func (s *Server) reportRefused(reason CloseReason) {
	if s.cfg.ConnState != nil {
		id := s.guard.ids.Add(1)
		s.cfg.ConnState(id, ConnNew, 0)
		s.cfg.ConnState(id, ConnClosed, reason)
	}
}
