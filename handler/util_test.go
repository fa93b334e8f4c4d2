package handler

import "github.com/qstate/qstate/bufpool"

// putBuf returns an answer buffer to bufpool, as the server does after writing it.
func putBuf(b []byte) { bufpool.Put(b) }
