package server

import "github.com/rs/zerolog"

// gnetLogger routes gnet's own logs into the server's zerolog.Logger. gnet
// logs only on its lifecycle and on errors (never per request). Its Info
// lines (engine start) go to Debug; Fatalf is logged as an error and does
// not exit: the server decides what an engine failure means. Its
// warnings and errors count against the server's log rate (lograte.go).
type gnetLogger struct {
	log zerolog.Logger
	s   *Server
}

func (g gnetLogger) Debugf(format string, args ...any) {
	g.log.Debug().Str("from", "gnet").Msgf(format, args...)
}

func (g gnetLogger) Infof(format string, args ...any) {
	g.log.Debug().Str("from", "gnet").Msgf(format, args...)
}

func (g gnetLogger) Warnf(format string, args ...any) {
	g.s.limitedLog(zerolog.WarnLevel).Str("from", "gnet").Msgf(format, args...)
}

func (g gnetLogger) Errorf(format string, args ...any) {
	g.s.limitedLog(zerolog.ErrorLevel).Str("from", "gnet").Msgf(format, args...)
}

func (g gnetLogger) Fatalf(format string, args ...any) {
	g.log.Error().Str("from", "gnet").Msgf(format, args...)
}
