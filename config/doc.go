// Package config decodes a usertcp TOML file into plain Go structs: the link
// that joins the stacks, each stack's addresses, routes, hosts and TCP
// tuning, and the default gen_tcp options for sockets.
//
// Load reads a file, Decode reads text in memory, and Default returns the
// built-in setup (default.toml: two stacks, "server" and "client", on the
// two ends of a memlink). example.toml shows and explains every key.
//
// # Defaults
//
// An absent key means "the library default", and Decode does not fill in
// those defaults: the zero value of a field stands for it, and each field's
// comment names the default. Booleans whose default is not false (such as
// Link.Ethernet or TCP.SACK) are *bool, nil meaning the default. Where zero
// is not a usable setting (Link.MTU, buffer sizes, TCP timers), writing 0 in
// the file is an error rather than a silent default: omit the key instead.
// The only value Decode fills in is Link.Kind, which is Memlink when absent.
//
// # Errors
//
// Every error Decode and Load return for a bad file is a *Error, or several
// joined with errors.Join, one per problem in document order. Each names
// the file, the line and the key path, with array-of-tables indices from 0:
//
//	example.toml:14: stack[1].addresses[0]: "10.0.0.300/24" is not an IP prefix
//	x.toml:3: link.mtuu: unknown key (did you mean mtu?)
//
// Syntax errors name the key when it can be told. Errors reading the file
// are returned as the os package returns them.
//
// # Socket options
//
// Sockets.ConnectOptions and Sockets.ListenOptions are kept as the Erlang
// term text the file holds. The package does not know gen_tcp options:
// pass WithOptionCheck to have Decode check them with the real parser, so
// that a bad option is reported with the file, line and key like any other
// error.
//
// The package imports no other usertcp package; cmd/usertcp turns a Config
// into each layer's Options.
package config
