package server

import (
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// logLimiter caps the connection warnings and errors a server logs
// (Config.LogRate): a hostile client can make a connection fail as often
// as it connects, and must not be able to flood the log. A token bucket
// (golang.org/x/time/rate) of LogRate lines per second with a burst of
// LogRate decides; a line that finds no token is counted, and the sweeper
// logs the count once a second ("suppressed").
type logLimiter struct {
	lim        *rate.Limiter // nil: no limit
	suppressed atomic.Int64  // lines left out since the last summary
}

func (l *logLimiter) init(perSecond int) {
	if perSecond > 0 {
		l.lim = rate.NewLimiter(rate.Limit(perSecond), perSecond)
	}
}

// limitedLog returns an event at level for a connection warning or error,
// or nil when the level is off or this second's lines are spent (zerolog's
// Event methods do nothing on nil, so callers chain as usual). A line left
// out is counted in Stats.LogsSuppressed. Any goroutine.
func (s *Server) limitedLog(level zerolog.Level) *zerolog.Event {
	if s.log.GetLevel() > level || zerolog.GlobalLevel() > level {
		return nil
	}
	if l := &s.guard.logs; l.lim != nil && !l.lim.Allow() {
		l.suppressed.Add(1)
		s.ctr.logsSuppressed.Add(1)
		return nil
	}
	return s.log.WithLevel(level)
}

// summarizeSuppressed logs how many lines LogRate left out since the last
// summary, at most once a second (sweeper: gnet's ticker goroutine).
func (s *Server) summarizeSuppressed() {
	l := &s.guard.logs
	if l.suppressed.Load() == 0 {
		return
	}
	now := time.Now()
	if now.Sub(s.guard.lastSummary) < time.Second {
		return
	}
	s.guard.lastSummary = now
	n := l.suppressed.Swap(0)
	s.log.Warn().Int64("suppressed", n).Int("log_rate", s.cfg.LogRate).
		Int64("suppressed_total", s.ctr.logsSuppressed.Load()).
		Msg("connection warnings over the log rate were suppressed")
}

// logClosed logs a closed connection: at Debug for the ordinary reasons
// and those logged with their numbers when detected (idle, slow consumer),
// else at Info under the log rate (OnClose, event loop).
func (s *Server) logClosed(cs *conn, reason CloseReason, err error) {
	var e *zerolog.Event
	switch reason {
	case ClosePeer, CloseShutdown, CloseIdle, CloseSlowConsumer:
		e = s.log.Debug()
	default:
		e = s.limitedLog(zerolog.InfoLevel).Int64("closed_for_reason", s.ctr.closed[reason].Load())
	}
	e.Uint64("conn", cs.guard.id).Stringer("remote", cs.guard.remote).Stringer("reason", reason).
		AnErr("cause", err).Msg("connection closed")
}
