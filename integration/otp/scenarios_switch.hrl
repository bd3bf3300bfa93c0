%% -*- erlang -*-
%% Switching {packet,Type} with inet:setopts while a passive recv is pending in another
%% process. Included by scenarios.erl (its helpers: pair/2, sl/0, async/1, done_yet/1,
%% await/2). The Go half is scenarios_switch_test.go.
%%
%% What OTP 25's driver does: setopts does not touch the pending recv; the next arrival
%% (data, the peer's close) makes it frame what is buffered with the new type before it
%% reads on. A recv(N>0) goes on reading exactly N bytes. A length-prefixed packet half
%% there when the type changes leaves the driver reading exactly its rest, after which the
%% whole buffer is one packet of the new type.

%% One case: a {packet,T0} socket, Pre sent and let settle, recv(C,Len,Tmo) pending in a
%% helper, setopts {packet,T1} from this process, then each of Posts (a binary the peer
%% sends, or close: the peer closes). done_yet after the recv started, after the setopts
%% and after each post says when the recv returned; then its result and two following
%% recv(C,0,200).
switch_case(T0, Pre, Len, Tmo, T1, Posts) ->
    {L, C, A} = pair([], [{packet, T0}]),
    [ok = gen_tcp:send(A, Pre) || Pre =/= <<>>],
    sl(),
    P = async(fun() -> gen_tcp:recv(C, Len, Tmo) end),
    sl(),
    D1 = done_yet(P),
    ok = inet:setopts(C, [{packet, T1}]),
    sl(),
    D2 = done_yet(P),
    Ds = [begin switch_post(A, D), sl(), done_yet(P) end || D <- Posts],
    R = await(P, 3000),
    F = [gen_tcp:recv(C, 0, 200), gen_tcp:recv(C, 0, 200)],
    gen_tcp:close(C), gen_tcp:close(A), gen_tcp:close(L),
    {[D1, D2 | Ds], R, F}.

switch_post(A, close) -> gen_tcp:close(A);
switch_post(A, D) -> ok = gen_tcp:send(A, D).

%% switch_raw_to_packet4: raw -> {packet,4}, nothing buffered: the packet that arrives after
%% the switch is framed with 4 (the rest stays for the next recv), with and without a
%% timeout, in one segment or in three; without data the timeout ends the recv
switch_raw_to_packet4() ->
    W = <<0,0,0,3,"abc",0,0,0,1,"d">>,
    [{infinity, switch_case(raw, <<>>, 0, infinity, 4, [W])},
     {t2000, switch_case(raw, <<>>, 0, 2000, 4, [W])},
     {split, switch_case(raw, <<>>, 0, infinity, 4, [<<0,0>>, <<0,3,"ab">>, <<"c">>])},
     {none, switch_case(raw, <<>>, 0, 1000, 4, [])}].

%% switch_packet4_to_raw: {packet,4} -> raw. Nothing buffered: raw. A packet half there
%% (header whole): nothing at the setopts; the driver reads exactly the packet's rest and
%% returns the whole buffer, header and all (more data stays for the next recv); the peer's
%% close before the rest discards it (closed); without data the timeout ends the recv and
%% the next recv gets the buffer. A header half there: the next arrival returns the buffer
switch_packet4_to_raw() ->
    Half = <<0,0,0,5,"ab">>,
    [{empty, switch_case(4, <<>>, 0, infinity, raw, [<<"hello">>])},
     {rest, switch_case(4, Half, 0, infinity, raw, [<<"cde">>])},
     {rest_t2000, switch_case(4, Half, 0, 2000, raw, [<<"cde">>])},
     {more, switch_case(4, Half, 0, infinity, raw, [<<"cdefg">>])},
     {close, switch_case(4, Half, 0, infinity, raw, [close])},
     {none, switch_case(4, Half, 0, 1000, raw, [])},
     {header_half, switch_case(4, <<0,0>>, 0, infinity, raw, [<<"xy">>])}].

%% switch_line_to_raw: line -> raw. A line without its end buffered: nothing at the setopts;
%% the next arrival returns the buffered bytes and the new ones stay; the peer's close returns
%% them too, then closed; without data the timeout, and the next recv gets them
switch_line_to_raw() ->
    [{empty, switch_case(line, <<>>, 0, infinity, raw, [<<"cd">>])},
     {partial, switch_case(line, <<"ab">>, 0, infinity, raw, [<<"cd\nef">>])},
     {partial_t2000, switch_case(line, <<"ab">>, 0, 2000, raw, [<<"cd\nef">>])},
     {close, switch_case(line, <<"ab">>, 0, infinity, raw, [close])},
     {none, switch_case(line, <<"ab">>, 0, 1000, raw, [])}].

%% switch_line_to_packet4: a whole {packet,4} packet buffered as a line not yet ended: the
%% setopts does not return it; the next arrival does (the new byte stays)
switch_line_to_packet4() ->
    [{arrival, switch_case(line, <<0,0,0,2,"ab">>, 0, infinity, 4, [<<"x">>])},
     {none, switch_case(line, <<0,0,0,2,"ab">>, 0, 1000, 4, [])}].

%% switch_raw_len_to_line: a pending recv(5) still reads exactly 5 bytes after raw -> line
switch_raw_len_to_line() ->
    [{partial, switch_case(raw, <<"ab">>, 5, infinity, line, [<<"cd\nef">>])},
     {newline, switch_case(raw, <<"a\n">>, 5, 2000, line, [<<"cdef">>])}].

%% switch_http_to_httph: http -> httph (and back) while the recv waits: the line that arrives
%% is framed and parsed as a header (a request line is http_error); a header half there when
%% the type changes too; httph -> http with a request line half there: the driver is in its
%% header state since httph framed it, so the line is http_error
switch_http_to_httph() ->
    [{header, switch_case(http, <<>>, 0, infinity, httph, [<<"Host: h\r\n\r\n">>])},
     {header_t2000, switch_case(http, <<>>, 0, 2000, httph, [<<"Host: h\r\n\r\n">>])},
     {request_line, switch_case(http, <<>>, 0, infinity, httph, [<<"GET / HTTP/1.1\r\n\r\n">>])},
     {header_half, switch_case(http, <<"Host: h">>, 0, infinity, httph, [<<"\r\n\r\n">>])},
     {back, switch_case(httph, <<"GET / HTTP/1.1">>, 0, infinity, http, [<<"\r\n\r\n">>])}].

%% The cases below run on erl only (scenarios_switch_test.go says why).

%% switch_raw_len_to_packet4: a pending recv(8) reads exactly 8 bytes after raw -> {packet,4}
%% and the driver strips a 4-byte header from them, whatever it says; the rest of the stream
%% is framed from there. (With fewer than 4 bytes, recv(3) with <<0,0>> buffered and <<0,1,"a">>
%% sent, OTP 25.2.3's VM aborts: binary_alloc cannot allocate 2^64-1 bytes. Not run.)
switch_raw_len_to_packet4() ->
    W = <<0,0,0,3,"abc",0,0,0,1,"d">>,
    [{infinity, switch_case(raw, <<>>, 8, infinity, 4, [W])},
     {t2000, switch_case(raw, <<>>, 8, 2000, 4, [W])},
     {buffered, switch_case(raw, <<0,0,0,3>>, 8, infinity, 4, [<<"abc">>, <<"xyz">>])},
     {none, switch_case(raw, <<>>, 8, 1000, 4, [])}].

%% switch_packet4_to_line: a {packet,4} packet half there, -> line: the driver reads exactly
%% the packet's rest and returns the whole buffer as one line, though it does not end with a
%% newline (and the newline read is inside it)
switch_packet4_to_line() ->
    [{rest, switch_case(4, <<0,0,0,5,"ab">>, 0, infinity, line, [<<"c\nde\n">>])}].

%% switch_raw_to_http_bin: raw -> http_bin: the pending recv returns the HTTP packet that
%% arrives; a recv(20) reads 20 bytes and returns the first line parsed, the rest of the 20
%% is lost
switch_raw_to_http_bin() ->
    W = <<"GET / HTTP/1.1\r\nHost: h\r\n\r\n">>,
    [{infinity, switch_case(raw, <<>>, 0, infinity, http_bin, [W])},
     {t2000, switch_case(raw, <<>>, 0, 2000, http_bin, [W])},
     {len20, switch_case(raw, <<>>, 20, infinity, http_bin, [W])},
     {len20_buffered, switch_case(raw, <<"GET / HTTP/1.1\r\n">>, 20, infinity, http_bin,
                                  [<<"Host: h\r\n\r\n">>])}].

%% switch_http_bin_to_raw: http_bin -> raw: the pending recv returns raw data; a line half
%% there is returned at the next arrival (or close), before the new bytes
switch_http_bin_to_raw() ->
    [{empty, switch_case(http_bin, <<>>, 0, infinity, raw, [<<"GET / HTTP/1.1\r\n">>])},
     {partial, switch_case(http_bin, <<"GET / HT">>, 0, infinity, raw, [<<"TP/1.1\r\n">>])},
     {close, switch_case(http_bin, <<"GET / HT">>, 0, infinity, raw, [close])},
     {none, switch_case(http_bin, <<"GET / HT">>, 0, 1000, raw, [])}].
