package codec_test

import (
	"fmt"

	"github.com/qstate/qstate/codec"
)

// A server's read loop: decode every whole frame in the buffer, keep the
// rest for the next read.
func ExampleDecodeFrame() {
	req := codec.KvStateRequest{StateName: []byte("query-name"), KeyHash: 1, KeyAndNamespace: []byte{0, 0, 0, 1, 0x2a, 0}}
	buf := codec.AppendKvStateRequestFrame(nil, 0, req)
	buf = codec.AppendKvStateRequestFrame(buf, 1, req)
	buf = buf[:len(buf)-3] // the second frame is still arriving

	for {
		f, n, err := codec.DecodeFrame(buf, codec.DefaultMaxFrameLen)
		if err != nil {
			fmt.Println("broken stream:", err) // answer SERVER_FAILURE, close
			return
		}
		if n == 0 {
			fmt.Println("need more bytes; buffered:", len(buf))
			return
		}
		r, err := codec.DecodeKvStateRequest(f.Body)
		fmt.Printf("%s id=%d state=%q hash=%d err=%v\n", f.Type, f.RequestID, r.StateName, r.KeyHash, err)
		buf = buf[n:]
	}
	// Output:
	// REQUEST id=0 state="query-name" hash=1 err=<nil>
	// need more bytes; buffered: 61
}

// A server answers a request with the state's serialized value.
func ExampleAppendResultFrame() {
	value := []byte{0, 0, 0, 0, 0, 0, 0, 42} // a Long, as Flink's LongSerializer writes it
	dst := make([]byte, 0, codec.ResultFrameSize(len(value)))
	dst = codec.AppendResultFrame(dst, 0, value)
	fmt.Printf("% x\n", dst)
	// Output:
	// 00 00 00 1c 79 a1 b7 10 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 00 00 00 00 2a
}
