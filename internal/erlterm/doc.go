// Package erlterm parses Erlang terms written the way an Erlang user writes
// gen_tcp socket options, and prints them back in Erlang syntax.
//
// It reads the subset of Erlang's term syntax that options use:
//
//	[binary, {packet, 4}, {active, once}, {ip, {127,0,0,1}},
//	 {linger, {true, 10}}, {send_timeout, infinity}, {line_delimiter, $\n},
//	 {active, -5}, 'quoted atom', "a string", <<"bin">>, <<1,2,3>>]
//
// Parse returns one Term: an Atom, Int, Tuple, List, String or Binary.
// Character literals ($a, $\n) become Int, as in Erlang. A "string" literal
// becomes a String rather than a List of code points, so that messages can
// echo it as written; String.List gives the list view and Equal compares
// the way Erlang's =:= does, so "ab" equals [97,98].
//
// Not supported, each rejected with a *SyntaxError that says so: floats,
// maps, improper lists ([H|T]), binary segment sizes and types other than
// /utf8, variables, and expressions other than a sign on an integer.
// Erlang's unquoted reserved words (end, case, of, ...) must be quoted to be
// atoms, as in Erlang. Nesting is limited to MaxDepth levels so that no input
// can exhaust the stack.
//
// Every Term has a String method that prints it in Erlang syntax, quoting
// atoms only where Erlang needs it: {packet,4}, 'quoted atom', "abc",
// <<1,2>>. Parse(t.String()) gives back a term equal to t.
package erlterm
