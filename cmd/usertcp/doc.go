// Command usertcp runs TCP/IP in user space and speaks gen_tcp on it.
//
//	usertcp demo [flags]              two stacks on an in-memory link, an echo server and a client, and a report
//	usertcp demo --sim --seed N       the same in the deterministic simulation (virtual time)
//	usertcp demo --hosts N            a server and N-1 clients on one in-memory network
//	usertcp serve --tap NAME [flags]  echo, discard and HTTP on a stack behind a TAP device
//	usertcp connect [flags] HOST PORT like nc -N: stdin to a gen_tcp socket, the socket to stdout
//	usertcp bench [flags]             gentcp against gonet, kernel loopback and OTP gen_tcp (BENCHMARKS.md)
//	usertcp version                   the versions a bug report needs (also usertcp --version)
//
// With no --config it uses the embedded default setup (config.Default): a
// stack "server" at 10.0.0.1 and a stack "client" at 10.0.0.2 on a
// 1500-byte memlink. Run "usertcp COMMAND --help" for a command's flags.
package main
