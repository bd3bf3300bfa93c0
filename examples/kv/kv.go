// Package kv is a small replicated key-value store over gentcp, written
// to be tested in package sim: three servers, a primary and two backups,
// and a client, with {packet,4} messages. It comes in two versions. Naive
// acknowledges a put as soon as the primary has applied it and replicates
// it afterwards; when the primary is cut off just then and a backup takes
// over, a write the client was told is stored is gone. Safe acknowledges
// a put only once every backup has it, and loses nothing.
//
// The protocol: Nodes[0] starts as the primary and connects to the
// others as its backups (ReplicaPort), sending them every put ("rep") and
// a heartbeat ("hb"). A backup that hears nothing from its primary for
// FailoverAfter takes over if it is next in succession, and connects to
// the nodes after it. The client (Client) sends each request to the node
// it believes leads and, when that fails or answers "notprimary", tries
// the next.
//
// The scenario (Run, Options, Setup) partitions the primary from the rest
// while the client writes, and then reads every acknowledged key back
// from the new primary. LosingSeed is a seed for which Naive loses a
// write; Safe passes with it and every other seed tried.
//
// It is an example, not a store: no state transfer to a restarted node,
// no fencing of an old primary that comes back (so the scenario never
// heals the partition), keys and values without spaces.
package kv

import (
	"errors"
)

// Mode says when the primary acknowledges a put.
type Mode int

const (
	// Naive answers "ok" as soon as the primary has the write, then
	// replicates it.
	Naive Mode = iota
	// Safe answers "ok" once every backup has acknowledged the write,
	// and "unavailable" if they have not within ReplicationTimeout.
	Safe
)

// String returns "naive" or "safe".
func (m Mode) String() string {
	if m == Naive {
		return "naive"
	}
	return "safe"
}

// Nodes are the servers' host names in order of succession: Nodes[0]
// leads first, Nodes[1] takes over from it, and so on.
var Nodes = []string{"kv1", "kv2", "kv3"}

// ErrUnavailable is the error of a Client call that no node answered in
// time.
var ErrUnavailable = errors.New("kv: no node answered")
