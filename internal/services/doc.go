// Package services runs the services of usertcp serve on a gentcp node:
// echo (RFC 862) and discard (RFC 863) on gen_tcp listen sockets, and an
// HTTP server (Go's net/http on the node's net.Listener).
//
// Start opens the listeners and Stop closes them and every connection.
// The command runs them for the kernel and real programs on a TAP device
// (usertcp serve) or for its own client on a memlink (usertcp connect);
// integration/tap runs the same services against curl, nc and socat, so
// that what those tests check is what the command serves.
//
// The gen_tcp services follow Erlang's acceptor pattern: an acceptor
// process accepts one connection, spawns the next acceptor, and then
// serves its connection. Echo and Discard block only in gentcp calls, so
// the simulation (package sim) can run them too.
package services
