#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% The OTP side of usertcp bench: real gen_tcp (inet backend) over kernel
%% loopback, 127.0.0.1 only. The Go side (bench/otp.go) runs it and drives
%% it line by line, so OTP is measured by the same loop as the Go systems.
%%
%% Usage: escript bench.escript MEASUREMENT CONNS DIR MODE SOCKOPTS LISTENOPTS
%%   MEASUREMENT  bulk | rtt | connrate | msgrate
%%   CONNS        bulk: parallel connections
%%   DIR          bulk: up (the connecting side sends) | down
%%   MODE         msgrate: once ({active,once}) | passive
%%   SOCKOPTS     every socket's options, an Erlang list: the very list the
%%                gentcp side of the case gives its sockets (bench/otp.go
%%                prints gentcp's options), e.g.
%%                [binary,{active,false},{nodelay,true},{buffer,65536},{packet,4}]
%%   LISTENOPTS   what the listen socket adds: [{backlog,1024},{reuseaddr,true}]
%%
%% Protocol: prints "ready" once set up; then for each line "run N" on
%% standard input does N operations (bulk: N chunks of 64 KiB spread over
%% the connections; rtt: N round trips; connrate: N connect-accept-close;
%% msgrate: N 64-byte {packet,4} messages) and prints "ok", for rtt
%% followed by each round trip in nanoseconds. "opts NAME,..." prints "ok"
%% and, for each socket of the case, " ROLE=" and inet:getopts(Socket,
%% Names) in ~w form (ROLE listen, client or server; connrate connects one
%% client for it), so a test can check the options OTP applied against
%% gentcp's. "quit" (or end of input) closes everything and exits. A
%% failure prints "error REASON" and exits 1.

%% -mode(compile): without it escript interprets this file through
%% erl_eval, and OTP's loops run 16-22% slower than the compiled code a
%% user's program is; the baseline would flatter usertcp. main refuses to
%% run interpreted, so losing the line fails the bench tests.

-mode(compile).

-define(CHUNK, 65536).
-define(MSG, 64).

main([M, Conns, Dir, Mode, SockOpts, ListenOpts]) ->
    interpreted() andalso
        begin
            io:put_chars("error interpreted: bench.escript lost -mode(compile)\n"),
            halt(1)
        end,
    try
        put(sock_opts, term(SockOpts)),
        put(listen_opts, term(ListenOpts)),
        State = setup(list_to_atom(M), list_to_integer(Conns), list_to_atom(Dir), list_to_atom(Mode)),
        io:put_chars("ready\n"),
        loop(State)
    catch
        Class:Reason:Stack ->
            io:format("error ~p:~p ~p~n", [Class, Reason, Stack]),
            halt(1)
    end;
main(_) ->
    io:put_chars(standard_error, "usage: bench.escript MEASUREMENT CONNS DIR MODE SOCKOPTS LISTENOPTS\n"),
    halt(2).

%% interpreted() is true when erl_eval runs this code (escript's default
%% mode), false when the file was compiled.
interpreted() ->
    {current_stacktrace, Frames} = process_info(self(), current_stacktrace),
    lists:keymember(erl_eval, 1, Frames).

%% term parses an Erlang term from an argument.
term(S) ->
    {ok, Tokens, _} = erl_scan:string(S ++ "."),
    {ok, T} = erl_parse:parse_term(Tokens),
    T.

loop(State) ->
    case io:get_line("") of
        "run " ++ Rest ->
            N = list_to_integer(string:trim(Rest)),
            Reply = run(State, N),
            io:put_chars(["ok", Reply, "\n"]),
            loop(State);
        "opts " ++ Rest ->
            Names = [list_to_atom(N) || N <- string:lexemes(string:trim(Rest), ",")],
            Reply = [[" ", atom_to_list(Role), "=", io_lib:format("~w", [Opts])]
                     || {Role, S} <- sockets(State), {ok, Opts} <- [inet:getopts(S, Names)]],
            io:put_chars(["ok", Reply, "\n"]),
            close_probe(State),
            loop(State);
        _ -> % "quit" or eof
            teardown(State),
            halt(0)
    end.

%% opts() are every socket's options, as the Go side gave them.
opts() ->
    get(sock_opts).

listen() ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}} | get(listen_opts) ++ opts()]),
    {ok, Port} = inet:port(L),
    {L, Port}.

connect_pair(L, Port) ->
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, opts()),
    {ok, S} = gen_tcp:accept(L),
    {C, S}.

%% ---------------------------------------------------------------------------
%% Setup

setup(bulk, Conns, Dir, _) ->
    {L, Port} = listen(),
    Pairs = [connect_pair(L, Port) || _ <- lists:seq(1, Conns)],
    Ends = [case Dir of up -> P; down -> {S, C} end || {C, S} = P <- Pairs],
    Bin = binary:copy(<<0>>, ?CHUNK),
    Workers = [{spawn_worker(Snd, fun(N) -> send_chunks(Snd, Bin, N) end),
                spawn_worker(Rcv, fun(N) -> recv_bytes(Rcv, N * ?CHUNK) end)}
               || {Snd, Rcv} <- Ends],
    {bulk, L, Pairs, Workers};
setup(rtt, _, _, _) ->
    {L, Port} = listen(),
    {C, S} = connect_pair(L, Port),
    Echo = spawn_worker(S, fun(_) -> ok end),
    Echo ! echo,
    {rtt, L, C, S, Echo};
setup(connrate, _, _, _) ->
    {L, Port} = listen(),
    Self = self(),
    Acceptor = spawn(fun() -> accept_loop(L, Self) end),
    ok = gen_tcp:controlling_process(L, Acceptor),
    {connrate, L, Port, Acceptor};
setup(msgrate, _, _, Mode) ->
    {L, Port} = listen(),
    {C, S} = connect_pair(L, Port),
    Msg = binary:copy(<<0>>, ?MSG),
    Sender = spawn_worker(C, fun(N) -> send_chunks(C, Msg, N) end),
    Receiver = spawn_worker(S, fun(N) -> recv_msgs(S, Mode, N) end),
    {msgrate, L, C, S, Sender, Receiver}.

%% A worker owns a socket and does Fun(N) for each {run, N, From}.
spawn_worker(Sock, Fun) ->
    W = spawn(fun() -> worker(Sock, Fun) end),
    ok = gen_tcp:controlling_process(Sock, W),
    W.

worker(Sock, Fun) ->
    receive
        {run, N, From} ->
            Fun(N),
            From ! {done, self()},
            worker(Sock, Fun);
        echo ->
            echo(Sock);
        stop ->
            ok
    end.

echo(S) ->
    case gen_tcp:recv(S, 0) of
        {ok, D} ->
            ok = gen_tcp:send(S, D),
            echo(S);
        {error, _} ->
            ok
    end.

accept_loop(L, Coord) ->
    case gen_tcp:accept(L) of
        {ok, S} ->
            gen_tcp:close(S),
            Coord ! accepted,
            accept_loop(L, Coord);
        {error, _} ->
            ok
    end.

%% ---------------------------------------------------------------------------
%% Operations

run({bulk, _, _, Workers}, N) ->
    K = length(Workers),
    Busy = lists:append([start_share(W, N div K + min(1, max(0, N rem K - I + 1)))
                         || {I, W} <- lists:enumerate(Workers)]),
    [receive {done, W} -> ok end || W <- Busy],
    [];
run({rtt, _, C, _, _}, N) ->
    [[" ", integer_to_list(T)] || T <- ping(C, N, [])];
run({connrate, _, Port, _}, N) ->
    connect_close(Port, N),
    [];
run({msgrate, _, _, _, Sender, Receiver}, N) ->
    Sender ! {run, N, self()},
    Receiver ! {run, N, self()},
    [receive {done, W} -> ok end || W <- [Sender, Receiver]],
    [].

%% start_share has a sender and its receiver move Share chunks and returns
%% the workers to wait for.
start_share(_, 0) -> [];
start_share({Snd, Rcv}, Share) ->
    Snd ! {run, Share, self()},
    Rcv ! {run, Share, self()},
    [Snd, Rcv].

send_chunks(_, _, 0) -> ok;
send_chunks(S, Bin, N) ->
    ok = gen_tcp:send(S, Bin),
    send_chunks(S, Bin, N - 1).

recv_bytes(_, Left) when Left =< 0 -> ok;
recv_bytes(S, Left) ->
    {ok, D} = gen_tcp:recv(S, 0),
    recv_bytes(S, Left - byte_size(D)).

recv_msgs(_, _, 0) -> ok;
recv_msgs(S, once, N) ->
    ok = inet:setopts(S, [{active, once}]),
    receive
        {tcp, S, <<_:?MSG/binary>>} -> recv_msgs(S, once, N - 1);
        Other -> error({unexpected, Other})
    end;
recv_msgs(S, passive, N) ->
    {ok, <<_:?MSG/binary>>} = gen_tcp:recv(S, 0),
    recv_msgs(S, passive, N - 1).

ping(_, 0, Acc) -> lists:reverse(Acc);
ping(C, N, Acc) ->
    T0 = erlang:monotonic_time(nanosecond),
    ok = gen_tcp:send(C, <<0>>),
    {ok, _} = gen_tcp:recv(C, 0),
    T1 = erlang:monotonic_time(nanosecond),
    ping(C, N - 1, [T1 - T0 | Acc]).

connect_close(_, 0) -> ok;
connect_close(Port, N) ->
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, opts()),
    ok = gen_tcp:close(C),
    receive accepted -> ok end,
    connect_close(Port, N - 1).

%% sockets lists the case's sockets with their roles, for "opts".
sockets({bulk, L, Pairs, _}) ->
    [{listen, L} | lists:append([[{client, C}, {server, S}] || {C, S} <- Pairs])];
sockets({rtt, L, C, S, _}) ->
    [{listen, L}, {client, C}, {server, S}];
sockets({connrate, L, Port, _}) ->
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, opts()),
    put(probe, C),
    [{listen, L}, {client, C}];
sockets({msgrate, L, C, S, _, _}) ->
    [{listen, L}, {client, C}, {server, S}].

%% close_probe closes the client "opts" connected for connrate and takes
%% the acceptor's word that it closed its end.
close_probe({connrate, _, _, _}) ->
    ok = gen_tcp:close(erase(probe)),
    receive accepted -> ok end;
close_probe(_) ->
    ok.

%% ---------------------------------------------------------------------------
%% Teardown

teardown({bulk, L, Pairs, Workers}) ->
    [W ! stop || {Snd, Rcv} <- Workers, W <- [Snd, Rcv]],
    [begin gen_tcp:close(C), gen_tcp:close(S) end || {C, S} <- Pairs],
    gen_tcp:close(L);
teardown({rtt, L, C, S, _}) ->
    gen_tcp:close(C),
    gen_tcp:close(S),
    gen_tcp:close(L);
teardown({connrate, L, _, _}) ->
    gen_tcp:close(L);
teardown({msgrate, L, C, S, Sender, Receiver}) ->
    Sender ! stop,
    Receiver ! stop,
    gen_tcp:close(C),
    gen_tcp:close(S),
    gen_tcp:close(L).
