package server

import (
	"testing"

	"github.com/qstate/qstate/codec"
)

// TestFrameLimitShared: a zero Config limits request frames to the codec's
// one default (the client's and the load harness's too), and its inbound
// cap holds one such frame.
func TestFrameLimitShared(t *testing.T) {
	c := Config{}.withDefaults()
	if c.MaxFrameLen != codec.DefaultMaxFrameLen {
		t.Errorf("default MaxFrameLen %d, want codec.DefaultMaxFrameLen %d", c.MaxFrameLen, codec.DefaultMaxFrameLen)
	}
	if c.MaxInbound < c.MaxFrameLen+codec.LengthLen {
		t.Errorf("default MaxInbound %d cannot hold a frame of %d", c.MaxInbound, c.MaxFrameLen)
	}
}
