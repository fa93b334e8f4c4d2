// Package enumname holds the names of the small integer enums of qstate's
// packages (handler.Dispatch, bench.Protocol, client.Type,
// codec.MessageType, ...): one Table per enum gives its String method,
// the parsing of its flag or config text (UnmarshalText, client.ParseType)
// and the error naming the values it accepts, so every enum prints and
// parses alike.
//
// A Table is set up once, as a package variable, and only read after:
// its methods are safe for concurrent use. It keeps none of the caller's
// byte slices.
package enumname
