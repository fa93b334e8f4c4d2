// Package freelist holds List, the free list that handler's tasks and
// server's batches are taken from and given back to once per batch: a
// mutex-guarded stack rather than a sync.Pool, because the garbage
// collector never empties it, so steady state allocates nothing even
// across collections. It never shrinks: it holds at most as many objects
// as were ever out at once.
//
// A List is safe for concurrent use by any goroutine. It keeps the objects
// given to Put as they are: their user clears what they refer to (byte
// slices included) before Put, and sets them up again after Get.
package freelist
