%% -*- erlang -*-
%% issue 20: the HTTP packet types, {packet, http | httph | http_bin | httph_bin}.
%% Included by scenarios.erl (its helpers: pair/2, sl/0, next/0, msgs/0, async/1, ...).
%% The Go half is scenarios_http_test.go.

http_types() -> [http, httph, http_bin, httph_bin].

%% recv(C,0,500) until http_eoh, an error, or Max packets; returns the results in order.
http_recv_all(C) -> http_recv_all(C, 12).
http_recv_all(_C, 0) -> [too_many];
http_recv_all(C, Max) ->
    case gen_tcp:recv(C, 0, 500) of
        {ok, http_eoh} = R -> [R];
        {ok, _} = R -> [R | http_recv_all(C, Max - 1)];
        R -> [R]
    end.

http_close(L, C, A) -> gen_tcp:close(C), gen_tcp:close(A), gen_tcp:close(L).

%% issue 20 http_request_each_type: a request line, a known (Host), an unknown (X-Trace) and
%% a lower-case known header, http_eoh, passive; httph/httph_bin read the request line as a
%% header (http_error); list mode gives the same terms as binary
http_request_each_type() ->
    W = <<"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Trace: abc \r\n"
          "content-length: 0\r\n\r\n">>,
    [begin
         {L, C, A} = pair([], [Mode, {packet, T}]),
         ok = gen_tcp:send(A, W), sl(),
         R = {T, Mode, http_recv_all(C), inet:getopts(C, [packet])},
         http_close(L, C, A),
         R
     end || T <- http_types(), Mode <- [binary, list]].

%% issue 20 http_response_each_type: status lines (with a reason of several words, without
%% a reason, HTTP/1.0) and a header after each, passive
http_response_each_type() ->
    W = <<"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
          "HTTP/1.0 404 Not  Found \r\nServer: x\r\n\r\n"
          "HTTP/1.1 204\r\n\r\n">>,
    [begin
         {L, C, A} = pair([], [{packet, T}]),
         ok = gen_tcp:send(A, W), sl(),
         R = {T, http_recv_all(C), http_recv_all(C), http_recv_all(C)},
         http_close(L, C, A),
         R
     end || T <- http_types()].

%% issue 20 http_request_forms: methods known (atoms) and not (strings), the URI forms
%% ('*', abs_path, absoluteURI with and without a port, scheme, a string), HTTP/0.9
http_request_forms() ->
    Lines = [<<"OPTIONS * HTTP/1.1\r\n">>, <<"PATCH /x HTTP/1.1\r\n">>,
             <<"get /lower HTTP/1.0\r\n">>, <<"POST http://Example.com:8080/p?x HTTP/1.1\r\n">>,
             <<"PUT HTTPS://h HTTP/1.1\r\n">>, <<"DELETE http://h:abc/ HTTP/1.1\r\n">>,
             <<"HEAD mailto:x@y HTTP/1.1\r\n">>, <<"TRACE foo HTTP/1.1\r\n">>,
             <<"GET /old\r\n">>],
    [begin
         {L, C, A} = pair([], [{packet, T}]),
         R = {T, [begin
                      ok = gen_tcp:send(A, [Line, <<"\r\n">>]),
                      {gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)}
                  end || Line <- Lines]},
         http_close(L, C, A),
         R
     end || T <- [http, http_bin]].

%% issue 20 http_header_continuation: a header continued on lines that start with a space or
%% a tab keeps them (CRLF and blank) in its value; a header ends at an LF not followed by one
http_header_continuation() ->
    W = <<"GET / HTTP/1.1\r\nX-Long: a\r\n b\r\n\tc\r\nHost: h\r\nX-Lf: 1\n 2\nAccept: */*\r\n\r\n">>,
    [begin
         {L, C, A} = pair([], [{packet, T}]),
         ok = gen_tcp:send(A, W), sl(),
         R = {T, http_recv_all(C)},
         http_close(L, C, A),
         R
     end || T <- http_types()].

%% issue 20 http_header_fields: OTP's case for a field name, and which fields are atoms with
%% their index (known) and which are strings (unknown)
http_header_fields() ->
    W = <<"GET / HTTP/1.1\r\ncontent-TYPE: a\r\nHOST: b\r\nX-Foo: c\r\nx--y: d\r\n"
          "Set-Cookie2: e\r\nProxy-Connection: f\r\nCache-Control: g\r\nwww-authenticate: h\r\n"
          "Content-MD5: i\r\nX-Forwarded-For: j\r\nKeep-Alive: k\r\nEmpty:\r\n\r\n">>,
    [begin
         {L, C, A} = pair([], [{packet, T}]),
         ok = gen_tcp:send(A, W), sl(),
         R = {T, http_recv_all(C, 20)},
         http_close(L, C, A),
         R
     end || T <- [http, http_bin]].

%% issue 20 http_error_lines: a bad start line is http_error and the socket reads a start
%% line next; a bad header line is http_error and it reads headers next
http_error_lines() ->
    W = <<"garbage\r\nGET / HTTP/1.1\r\nBad Header\r\n: x\r\nHost: h\r\n\r\n"
          "HTTP/1.1 abc\r\nGET /x HTTP/1.1 junk\r\nGET /y HTTP/x.1\r\n">>,
    [begin
         {L, C, A} = pair([], [{packet, T}]),
         ok = gen_tcp:send(A, W), sl(),
         R = {T, [gen_tcp:recv(C, 0, 500) || _ <- lists:seq(1, 9)]},
         http_close(L, C, A),
         R
     end || T <- http_types()].

%% issue 20 http_switch_to_httph: how Erlang servers parse: http for the request line, then
%% setopts httph for the headers; after http_eoh back to http for the next request
http_switch_to_httph() ->
    W = <<"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nX-B: 1\r\n\r\n">>,
    [begin
         {L, C, A} = pair([], [{packet, T}]),
         ok = gen_tcp:send(A, W), sl(),
         R1 = gen_tcp:recv(C, 0, 500),
         ok = inet:setopts(C, [{packet, H}]),
         R2 = http_recv_all(C),
         ok = inet:setopts(C, [{packet, T}]),
         R3 = gen_tcp:recv(C, 0, 500),
         ok = inet:setopts(C, [{packet, H}]),
         R4 = http_recv_all(C),
         R = {T, H, R1, R2, R3, R4},
         http_close(L, C, A),
         R
     end || {T, H} <- [{http, httph}, {http_bin, httph_bin}, {http, httph_bin}]].

%% issue 20 http_httph_after_eoh: with httph the state is headers whenever it frames: after
%% http_eoh a request line is http_error; setopts http in the middle of headers keeps reading
%% headers (the state stays)
http_httph_after_eoh() ->
    [begin
         {L, C, A} = pair([], [{packet, T}]),
         ok = gen_tcp:send(A, <<"Host: h\r\n\r\nGET / HTTP/1.1\r\nX: 1\r\n\r\n">>), sl(),
         R1 = http_recv_all(C),
         R2 = http_recv_all(C),
         ok = gen_tcp:send(A, <<"GET / HTTP/1.1\r\nHost: h\r\n">>), sl(),
         ok = inet:setopts(C, [{packet, http}]),
         R3 = gen_tcp:recv(C, 0, 500),
         ok = inet:setopts(C, [{packet, T}]),
         R4 = gen_tcp:recv(C, 0, 500),
         ok = inet:setopts(C, [{packet, http}]),
         ok = gen_tcp:send(A, <<"X: 2\r\n\r\n">>), sl(),
         R5 = http_recv_all(C),
         R = {T, R1, R2, R3, R4, R5},
         http_close(L, C, A),
         R
     end || T <- [httph, httph_bin]].

%% issue 20 http_keep_alive: a second request (and a response) on the same socket after
%% http_eoh, in one send or arriving later
http_keep_alive() ->
    [begin
         {L, C, A} = pair([], [{packet, T}]),
         ok = gen_tcp:send(A, <<"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\n">>), sl(),
         R1 = http_recv_all(C),
         R2 = gen_tcp:recv(C, 0, 500),
         R3 = gen_tcp:recv(C, 0, 100),
         ok = gen_tcp:send(A, <<"Connection: close\r\n\r\nHTTP/1.1 200 OK\r\n\r\n">>), sl(),
         R4 = http_recv_all(C),
         R5 = http_recv_all(C),
         R = {T, R1, R2, R3, R4, R5},
         http_close(L, C, A),
         R
     end || T <- [http, http_bin]].

%% issue 20 http_body_raw: after http_eoh, {packet,raw} reads the Content-Length body that was
%% buffered with the headers; back to http for the next request. The same in list mode.
http_body_raw() ->
    W = <<"POST /f HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n">>,
    [begin
         {L, C, A} = pair([], [Mode, {packet, T}]),
         ok = gen_tcp:send(A, W), sl(),
         R1 = http_recv_all(C),
         ok = inet:setopts(C, [{packet, raw}]),
         R2 = gen_tcp:recv(C, 5, 500),
         ok = inet:setopts(C, [{packet, T}]),
         R3 = http_recv_all(C),
         ok = gen_tcp:send(A, <<"PUT /g HTTP/1.1\r\n\r\nab">>), sl(),
         R4 = http_recv_all(C),
         ok = inet:setopts(C, [{packet, 0}]),
         R5 = gen_tcp:recv(C, 0, 500),
         R = {T, Mode, R1, R2, R3, R4, R5},
         http_close(L, C, A),
         R
     end || T <- [http, http_bin], Mode <- [binary, list]].

%% issue 20 http_packet_size: a line (with its CRLF) of packet_size bytes is fine, one byte
%% more is emsgsize and the socket closes (enotconn after), for a start line and a header
http_packet_size() ->
    W = <<"GET /0123 HTTP/1.1\r\nX-Aa: 0123456789ab\r\nX-Bb: 0123456789abc\r\n\r\n">>,
    [begin
         {L, C, A} = pair([], [{packet, T}, {packet_size, 20}]),
         ok = gen_tcp:send(A, W), sl(),
         R = {T, [gen_tcp:recv(C, 0, 500) || _ <- [1, 2, 3, 4]], gen_tcp:send(C, <<"x">>)},
         http_close(L, C, A),
         R
     end || T <- http_types()].

%% issue 20 http_start_line_size: a start line one byte over packet_size is emsgsize too
http_start_line_size() ->
    [begin
         {L, C, A} = pair([], [{packet, T}, {packet_size, 20}]),
         ok = gen_tcp:send(A, Line), sl(),
         R = {T, gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)},
         http_close(L, C, A),
         R
     end || {T, Line} <- [{http, <<"GET /01234 HTTP/1.1\r\n">>}, {http_bin, <<"HTTP/1.1 200 OKOKOK\r\n\r\n">>}]].

%% issue 20 http_line_no_lf_limit: a line without its LF is refused once packet_size bytes
%% of it are there, passive and active
http_line_no_lf_limit() ->
    [begin
         {L, C, A} = pair([], [{packet, http}, {packet_size, 10} | Act]),
         ok = gen_tcp:send(A, <<"GET /abc">>), sl(),
         R1 = case Act of [] -> gen_tcp:recv(C, 0, 200); _ -> msgs() end,
         ok = gen_tcp:send(A, <<"de">>), sl(),
         R2 = case Act of [] -> gen_tcp:recv(C, 0, 200); _ -> msgs() end,
         R = {Act, R1, R2},
         http_close(L, C, A),
         R
     end || Act <- [[], [{active, true}]]].

%% issue 20 http_buffer_limit: with packet_size 0 the line is bounded by the buffer option:
%% a line longer than buffer is emsgsize (where {packet,line} would split it)
http_buffer_limit() ->
    Long = <<"X-Long: ", (bytes(100))/binary, "\r\n">>,
    [begin
         {L, C, A} = pair([], [{packet, T}, {buffer, 64}]),
         ok = gen_tcp:send(A, <<"GET / HTTP/1.1\r\nHost: h\r\n">>), sl(),
         R1 = [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)],
         ok = gen_tcp:send(A, Long), sl(),
         R = {T, R1, gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)},
         http_close(L, C, A),
         R
     end || T <- [http, http_bin]].

%% issue 20 http_active_modes: each active mode with each HTTP type delivers {http,S,Packet}
%% messages: true all of them; once one, then setopts once for each next; {active,2} two and
%% tcp_passive. Then the peer closes: tcp_closed.
http_active_modes() ->
    W = <<"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n">>,
    [begin
         {L, C, A} = pair([], [{packet, T}, {active, Act}]),
         ok = gen_tcp:send(A, W), sl(),
         M1 = msgs(),
         M2 = case Act of
                  once -> [begin ok = inet:setopts(C, [{active, once}]), next() end || _ <- [1, 2, 3]];
                  2 -> ok = inet:setopts(C, [{active, 2}]), [next(), next(), next()];
                  true -> []
              end,
         ok = inet:setopts(C, [{active, true}]),
         ok = gen_tcp:close(A),
         R = {T, Act, M1, M2, msgs()},
         gen_tcp:close(C), gen_tcp:close(L),
         R
     end || T <- http_types(), Act <- [true, once, 2]].

%% issue 20 http_active_error_and_size: active: http_error is a message and the socket goes
%% on; a line over packet_size that arrives with the end of the header before it is reported
%% when more bytes come (as for {packet,2}): tcp_error emsgsize, then tcp_closed
http_active_error_and_size() ->
    [begin
         {L, C, A} = pair([], [{packet, T}, {packet_size, 30}, {active, true}]),
         ok = gen_tcp:send(A, <<"bad\r\nGET / HTTP/1.1\r\nBad Header\r\nHost: h\r\n">>), sl(),
         M1 = msgs(),
         ok = gen_tcp:send(A, <<"X-Long: ", (bytes(40))/binary, "\r\n">>), sl(),
         M2 = msgs(),
         _ = gen_tcp:send(A, <<"more">>), sl(),
         R = {T, M1, M2, msgs()},
         http_close(L, C, A),
         R
     end || T <- http_types()].

%% issue 20 http_active_switch: active once, switching http -> httph after the request line
%% as a server does; the state carries over
http_active_switch() ->
    [begin
         {L, C, A} = pair([], [{packet, T}, {active, once}]),
         ok = gen_tcp:send(A, <<"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\n\r\n">>),
         M1 = next(),
         ok = inet:setopts(C, [{packet, H}, {active, once}]),
         M2 = next(),
         ok = inet:setopts(C, [{active, once}]),
         M3 = next(),
         ok = inet:setopts(C, [{packet, T}, {active, once}]),
         M4 = next(),
         R = {T, H, [M1, M2, M3, M4], msgs()},
         http_close(L, C, A),
         R
     end || {T, H} <- [{http, httph}, {http_bin, httph_bin}]].

%% issue 20 http_deliver_port_active: with {deliver,port} an active HTTP socket sends the raw
%% line, unparsed ({S,{data,Line}}, a list in list mode); the parse state does not move, so
%% http frames every line as a start line (a continuation line is a message of its own) and
%% httph every line as a header (the continuation stays with it)
http_deliver_port_active() ->
    W = <<"GET / HTTP/1.1\r\nX-A: 1\r\n 2\r\nHost: h\r\n\r\nHTTP/1.1 200 OK\r\n">>,
    [begin
         {L, C, A} = pair([], [Mode, {packet, T}, {active, true}, {deliver, port}]),
         ok = gen_tcp:send(A, W), sl(),
         R = {T, Mode, msgs()},
         http_close(L, C, A),
         R
     end || T <- http_types(), Mode <- [binary, list]].

%% issue 20 http_peer_close_partial: the peer closes in the middle of a line: passive recv
%% gives closed, active sends tcp_closed only (the partial line is dropped)
http_peer_close_partial() ->
    [begin
         {L, C, A} = pair([], [{packet, T} | Act]),
         ok = gen_tcp:send(A, <<"GET / HTTP/1.1\r\nHost: h\r\nX-Part">>), sl(),
         ok = gen_tcp:close(A), sl(),
         R = case Act of
                 [] -> {T, passive, [gen_tcp:recv(C, 0, 500) || _ <- [1, 2, 3, 4]]};
                 _ -> {T, active, msgs()}
             end,
         gen_tcp:close(C), gen_tcp:close(L),
         R
     end || T <- [http, httph_bin], Act <- [[], [{active, true}]]].

%% issue 20 deliver_port_passive_recv: OTP 25 with {deliver,port} on a passive socket, every
%% packet type: recv sends the packet (the raw line for HTTP) to the owner as {S,{data,P}} and
%% does not return, past its timeout and past the peer's close; a second recv is ealready;
%% closing the socket ends the first with {error,closed}. gentcp's Recv returns the packet
%% instead (doc.go), so this scenario is erl's side only.
deliver_port_passive_recv() ->
    [begin
         {L, C, A} = pair([], [{packet, T}, {deliver, port}]),
         ok = gen_tcp:send(A, W), sl(),
         Pid = async(fun() -> gen_tcp:recv(C, 0, 100) end),
         sl(400),
         D1 = done_yet(Pid),
         M = msgs(),
         R2 = gen_tcp:recv(C, 0, 100),
         ok = gen_tcp:close(A), sl(200),
         D2 = done_yet(Pid),
         ok = gen_tcp:close(C),
         R = {T, D1, M, R2, D2, await(Pid, 1000), msgs()},
         gen_tcp:close(L),
         R
     end || {T, W} <- [{raw, <<"ab">>}, {2, <<0,2,"ab">>}, {line, <<"ab\ncd\n">>},
                       {asn1, <<48,2,1,2>>}, {http, <<"GET / HTTP/1.1\r\n\r\n">>},
                       {httph_bin, <<"Host: h\r\n\r\n">>}]].
