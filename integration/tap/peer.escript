#!/usr/bin/env escript
%% peer.escript: the real-Erlang side of integration/tap's gen_tcp test.
%% Run in the TAP test namespace, it talks to gentcp over the kernel's TCP:
%%
%%   escript peer.escript client ADDR PORT   connect to a gentcp server, send
%%                                           each message, check its echo
%%   escript peer.escript server PORT        listen, print "listening", accept
%%                                           one gentcp client, echo and check
%%                                           each message until it closes
%%
%% Both sides use [binary, {packet, 4}, {active, once}]. The messages are,
%% in order, 0, 1, 65535 and 1048576 bytes long; byte J (from 0) of message
%% I (from 1) is (I + J) rem 251, so a message that is cut, shifted or
%% swapped with another shows. It prints "ok N messages" and exits 0, or prints why to
%% stderr and exits 1.
-mode(compile).

main(["client", Addr, Port]) ->
    {ok, IP} = inet:parse_address(Addr),
    Family = case tuple_size(IP) of 4 -> inet; 8 -> inet6 end,
    S = case gen_tcp:connect(IP, list_to_integer(Port), [Family | opts()], 10000) of
            {ok, Sock} -> Sock;
            {error, R} -> fail("connect ~s port ~s: ~p", [Addr, Port, R])
        end,
    lists:foreach(fun({I, N}) ->
                          M = msg(I, N),
                          ok = gen_tcp:send(S, M),
                          Echo = recv(S, I),
                          Echo =:= M orelse
                              fail("echo of message ~p: ~p bytes, not the ~p sent", [I, byte_size(Echo), N])
                  end, numbered()),
    ok = gen_tcp:close(S),
    done();
main(["server", Port]) ->
    {ok, L} = gen_tcp:listen(list_to_integer(Port), [{reuseaddr, true} | opts()]),
    io:format("listening~n"),
    S = case gen_tcp:accept(L, 20000) of
            {ok, Sock} -> Sock;
            {error, R} -> fail("accept: ~p", [R])
        end,
    lists:foreach(fun({I, N}) ->
                          M = recv(S, I),
                          M =:= msg(I, N) orelse
                              fail("message ~p: ~p bytes, not the expected ~p", [I, byte_size(M), N]),
                          ok = gen_tcp:send(S, M)
                  end, numbered()),
    receive
        {tcp_closed, S} -> ok;
        Other -> fail("after the last message: ~p", [Other])
    after 20000 -> fail("timeout waiting for the client to close", [])
    end,
    done();
main(_) ->
    fail("usage: peer.escript client ADDR PORT | server PORT", []).

opts() -> [binary, {packet, 4}, {active, once}].

sizes() -> [0, 1, 65535, 1048576].

numbered() -> lists:zip(lists:seq(1, length(sizes())), sizes()).

msg(I, N) -> << <<((I + J) rem 251)>> || J <- lists:seq(0, N - 1) >>.

%% recv takes message I in {active, once} mode and re-arms it.
recv(S, I) ->
    receive
        {tcp, S, Data} ->
            ok = inet:setopts(S, [{active, once}]),
            Data;
        Other ->
            fail("waiting for message ~p: ~p", [I, Other])
    after 20000 ->
            fail("timeout waiting for message ~p", [I])
    end.

done() ->
    io:format("ok ~p messages~n", [length(sizes())]),
    halt(0).

fail(Fmt, Args) ->
    io:format(standard_error, "peer.escript: " ++ Fmt ++ "~n", Args),
    halt(1).
