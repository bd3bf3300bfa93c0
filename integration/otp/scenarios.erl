#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% Differential-test oracle for usertcp: runs gen_tcp scenarios on real Erlang/OTP over
%% kernel loopback (127.0.0.1 only) and prints one normalized line per scenario:
%%
%%     escript integration/otp/scenarios.erl all            # every scenario, in order
%%     escript integration/otp/scenarios.erl NAME [NAME..]  # selected scenarios
%%     escript integration/otp/scenarios.erl list           # just the names
%%
%% Output format (see README.md): `Name: Term`, Term printed like ~w except that
%% sockets/pids/refs are normalized to atoms and binaries use <<"text">> when printable.
%% Section references (§N) point at /work/shared/reference/gen_tcp-semantics.md.
-module(scenarios).
-mode(compile).
-compile([export_all, nowarn_export_all]).

-define(IP, {127,0,0,1}).
-define(MB, (1024*1024)).

%% ===================================================================================
%% Driver
%% ===================================================================================

main(["list"]) ->
    [io:format("~s~n", [N]) || N <- all()], ok;
main(Args) ->
    %% keep stdout to result lines only (e.g. send of non-iodata logs "Bad value on output port")
    logger:set_primary_config(level, none),
    %% names resolve from the hosts file only, so no lookup leaves the machine
    %% (connect_nxdomain's name would otherwise go to DNS)
    ok = inet_db:set_lookup([file]),
    Names = case Args of
                [] -> all();
                ["all"] -> all();
                _ -> [list_to_atom(A) || A <- Args]
            end,
    lists:foreach(fun run/1, Names).

run(Name) ->
    T0 = erlang:monotonic_time(millisecond),
    Parent = self(),
    {Pid, Ref} = spawn_monitor(
                   fun() ->
                           R = try ?MODULE:Name()
                               catch C:E -> {scenario_crashed, C, E}
                               end,
                           Parent ! {result, self(), norm(R)},
                           %% non-normal exit: kills linked helpers (and their sockets)
                           exit(done)
                   end),
    receive
        {result, Pid, R} ->
            io:format("~s: ~s~n", [Name, fmt(R)]),
            receive {'DOWN', Ref, _, _, _} -> ok end
    after 20000 ->
            exit(Pid, kill),
            receive {'DOWN', Ref, _, _, _} -> ok end,
            io:format("~s: scenario_timeout~n", [Name])
    end,
    case os:getenv("SCENARIO_TIMING") of
        false -> ok;
        _ -> io:format(standard_error, "~s ~w ms~n",
                       [Name, erlang:monotonic_time(millisecond) - T0])
    end,
    %% let the kernel finish tearing down the previous scenario's connections
    timer:sleep(10).

all() ->
    [
     %% §1 API surface
     connect_refused, connect_local_port_in_use, connect_bad_args, connect_address_forms,
     listen_eaddrinuse, listen_bad_args, listen_backlog_negative, listen_port_option_overrides,
     listen_port0_any,
     accept_timeout, accept_closed, accept_closed_while_blocked, accept_listen_owner_dies,
     accept_on_connected_socket,
     send_bad_data, recv_bad_args, close_twice, ops_after_own_close, shutdown_error_cases,
     connect_accept_names, getstat_fresh, getstat_errors, inet_close_alias,
     %% §2 defaults
     defaults_listen, defaults_connect, defaults_accept,
     %% §3 option rules
     setopts_invalid_is_atomic, setopts_first_wins, create_opts_last_wins,
     setopts_active_overflow_partial, getopts_unknown_fails, getopts_not_gettable,
     getopts_ipv6_v6only, getopts_duplicates_and_empty,
     setopts_invalid_values, setopts_accepted_oddities, line_delimiter_option_quirks,
     watermark_setopts_adjust, msgq_watermark_setopts_adjust,
     recbuf_sets_buffer, recbuf_explicit_buffer_wins,
     accept_inherits_options, accept_inherits_active_once, accept_inherits_active_n,
     default_connect_env, default_listen_env, default_listen_env_backlog,
     %% §4 passive receive
     recv0_chunk_is_buffer, recv0_chunk_is_buffer_5000, recv_len_exact, recv_len_waits_for_more,
     recv_len_larger_than_buffer, recv_len_limit, recv_len_in_packet_mode,
     recv_len_peer_closes_short, recv_len_blocked_then_peer_closes, recv_len_partial_then_closed,
     recv_timeout_poll, recv_len_poll_timeout_stale_length, recv_timeout_keeps_partial, packet2_timeout_keeps_partial,
     recv_concurrent_ealready, recv_non_owner, recv_on_active_socket,
     recv_blocked_peer_rst, recv_blocked_peer_rst_show, recv_blocked_own_close,
     %% §5 active modes
     active_true_data_then_closed, active_chunk_is_buffer, active_once_rearm,
     active_once_close_seen_while_passive, active_after_close_detected_passive,
     active_n_passive_msg, active_n_counter_rules, active_n_zero_always_passive_msg,
     active_n_close_no_passive,
     active_listen_socket_passive_msg, active_closed_then_send, own_close_active_no_msg,
     close_flushes_tcp_closed, header_binary, header_short_packet, header_passive_recv,
     header_list_mode_ignored, non_owner_setopts_active, deliver_port, deliver_port_other_msgs,
     %% §6 close / half-close / reset
     recv_len0_data_then_closed, recv_len0_closed_then_send,
     close_unread_rst_recv, close_unread_rst_recv_show, close_unread_rst_send_show,
     close_unread_rst_active, close_unread_rst_active_show,
     linger0_rst_passive, linger0_rst_passive_show, linger0_rst_active, linger0_rst_active_show,
     send_after_peer_close, send_after_peer_close_show,
     bg_send_reset_recv, bg_send_reset_send, bg_send_reset_active, bg_send_reset_active_show,
     recv_len0_data_then_closed_eoc_false, eoc_false_closed_socket_ops,
     send_after_peer_fin_unread, shutdown_write_peer_recv, shutdown_write_data_before_fin,
     shutdown_write_self_still_recv, shutdown_write_peer_eoc_false,
     shutdown_write_active_peer_eoc_false, eoc_false_active_peer_close,
     shutdown_write_then_send, shutdown_write_pending_output, shutdown_read_then_recv,
     shutdown_read_write, close_waits_for_pending_output, close_pending_output_peer_never_reads,
     no_accept_listen_closed_passive, no_accept_listen_closed_active,
     no_accept_listen_closed_active_show,
     %% §7 packet framing
     send_empty_raw, packet_wire_headers, packet_empty_payload, packet1_parse,
     packet1_oversize_send, packet2_oversize_send,
     packet_size_exceeded_passive, packet_size_exceeded_active,
     packet_size_exceeded_active_same_read, packet2_packet_size_boundary,
     packet2_partial_then_peer_close, packet2_partial_then_peer_close_active,
     packet_line_basic, packet_line_delimiter, packet_line_longer_than_buffer,
     packet_line_active, packet_line_packet_size, packet_switch_to_raw,
     recv_raw_list, recv_raw_binary, setopts_mode_atoms,
     %% §8 listen / accept / backlog
     backlog_0, backlog_1, backlog_2, backlog_5, backlog_default, backlog_full_then_accept,
     accept_caller_becomes_owner, accept_two_acceptors, listen_reuseaddr_timewait,
     %% §9 ownership
     owner_exit_closes_socket, owner_crash_closes_socket, non_owner_send_close,
     cp_moves_mailbox, cp_active_n_preserved, cp_leaves_tcp_passive, cp_leaves_tcp_error,
     cp_after_close_messages_stay, cp_eoc_false_closed_in_mailbox,
     cp_not_owner, cp_not_owner_to_current_owner, cp_dead_pid, cp_closed, cp_non_pid,
     %% §10 flow control
     send_pend_reaches_high_watermark, send_pend_reaches_high_watermark_100000,
     send_blocks_without_timeout, send_busy_suspends_other_senders, send_timeout_fires, send_timeout_close,
     send_timeout_close_active,
     %% §11 getstat
     getstat_packet_counts, getstat_raw_counts,
     %% issue 20: differences an outside check found, with their neighbours
     active_n_zero_at_open, setopts_active_entries_each_passive,
     shutdown_write_send_closes_socket, shutdown_write_send_eoc_false, shutdown_write_send_active,
     eoc_false_failed_send_fd_closed, eoc_false_reset_send_fd_closed, eoc_false_recv_closed_fd_open,
     eoc_recv_closed_fd_closed, eoc_failed_send_fd_closed,
     fd_closed_after_packet_size, fd_closed_after_send_timeout_close, fd_closed_after_bg_send_reset,
     eoc_false_show_reset_send, eoc_false_show_reset_recv_then_send, eoc_false_fin_seen_send_fails,
     getstat_dvi, connect_nxdomain,
     %% issue 20: the rest of {packet, Type}
     packet_protocol_passive, packet_protocol_active, packet_protocol_invalid,
     packet_protocol_invalid_active,
     %% issue 20: the HTTP packet types (scenarios_http.hrl)
     http_request_each_type, http_response_each_type, http_request_forms,
     http_header_continuation, http_header_fields, http_error_lines, http_switch_to_httph,
     http_httph_after_eoh, http_keep_alive, http_body_raw, http_packet_size, http_start_line_size,
     http_line_no_lf_limit, http_buffer_limit, http_active_modes, http_active_error_and_size,
     http_active_switch, http_deliver_port_active, http_peer_close_partial,
     deliver_port_passive_recv,
     %% a pending recv while setopts switches {packet,_} (scenarios_switch.hrl)
     switch_raw_to_packet4, switch_packet4_to_raw, switch_line_to_raw, switch_line_to_packet4,
     switch_raw_len_to_line, switch_http_to_httph,
     switch_raw_len_to_packet4, switch_packet4_to_line, switch_raw_to_http_bin,
     switch_http_bin_to_raw
    ].

%% ===================================================================================
%% Helpers
%% ===================================================================================

reg(S, Name) -> put({sock, S}, Name), S.

reg_ok({ok, S} = R, Name) -> reg(S, Name), R;
reg_ok(R, _) -> R.

%% Listen on 127.0.0.1, passive binary unless Opts override (create opts: last wins).
listen(Opts) ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, ?IP} | Opts]),
    reg(L, l).

port(L) -> {ok, P} = inet:port(L), P.

connect(L, Opts) -> connect(L, Opts, c).
connect(L, Opts, Name) ->
    {ok, C} = gen_tcp:connect(?IP, port(L), [binary, {active, false} | Opts], 2000),
    reg(C, Name).

accept(L) -> accept(L, a).
accept(L, Name) ->
    {ok, A} = gen_tcp:accept(L, 2000),
    reg(A, Name).

pair() -> pair([], []).
pair(LOpts, COpts) ->
    L = listen(LOpts),
    C = connect(L, COpts),
    A = accept(L),
    {L, C, A}.

sl() -> timer:sleep(50).
sl(T) -> timer:sleep(T).

%% Catch an exception as {'EXIT',Class,Reason}; a stacktrace attached to the reason
%% (e.g. exit({function_clause,Stack})) is dropped.
x(F) -> try F() catch Class:Reason -> {'EXIT', Class, strip_stack(Reason)} end.

strip_stack({R, [{_, _, _, _} | _]}) -> R;
strip_stack(R) -> R.

is_sock_msg(M) when is_tuple(M), tuple_size(M) >= 2 ->
    E = element(1, M),
    E =:= tcp orelse E =:= tcp_closed orelse E =:= tcp_error orelse E =:= tcp_passive
        orelse E =:= http orelse is_port(E);
is_sock_msg(_) -> false.

%% Collect socket messages until none arrives for T ms.
msgs() -> msgs(100).
msgs(T) ->
    receive M -> case is_sock_msg(M) of
                     true -> [M | msgs(T)];
                     false -> self() ! M, msgs_rest(T)   % never happens in practice
                 end
    after T -> []
    end.
msgs_rest(_T) -> [].

%% The next socket message (waits up to 2 s). Used between sends whose data must arrive
%% as separate messages, so that the result does not depend on scheduling.
next() ->
    receive
        {tcp, _, _} = M -> M;
        {tcp_closed, _} = M -> M;
        {tcp_error, _, _} = M -> M;
        {tcp_passive, _} = M -> M;
        {http, _, _} = M -> M;
        {P, {data, _}} = M when is_port(P) -> M
    after 2000 -> no_message
    end.

%% Wait (up to 2 s) until the mailbox holds at least N socket messages; does not consume.
wait_mailbox(N) -> wait_mailbox(N, 100).
wait_mailbox(_N, 0) -> mailbox();
wait_mailbox(N, Tries) ->
    case mailbox() of
        Ms when length(Ms) >= N -> Ms;
        _ -> sl(20), wait_mailbox(N, Tries - 1)
    end.

pend(S) -> {ok, [{send_pend, P}]} = inet:getstat(S, [send_pend]), P.

%% Send 1000-byte chunks until the driver starts queueing (kernel buffers full, peer not
%% reading), let the kernel settle for 200 ms and repeat until data stays queued.
%% Returns the number of bytes sent.
fill_kernel(C) -> fill_kernel(C, 0).
fill_kernel(C, Sent) ->
    ok = gen_tcp:send(C, bytes(1000)),
    case pend(C) of
        0 -> fill_kernel(C, Sent + 1000);
        _ ->
            sl(200),
            case pend(C) of
                0 -> fill_kernel(C, Sent + 1000);
                _ -> Sent + 1000
            end
    end.

%% Messages in the mailbox right now (no waiting).
mailbox() ->
    {messages, Ms} = process_info(self(), messages),
    [M || M <- Ms, is_sock_msg(M)].

%% Run F in a linked helper; await/1 gets its result.
async(F) ->
    Self = self(),
    spawn_link(fun() -> Self ! {async_result, self(), F()}, receive stop -> ok end end).
await(Pid) -> await(Pid, 5000).
await(Pid, T) ->
    receive {async_result, Pid, R} -> R after T -> await_timeout end.
done_yet(Pid) ->
    receive {async_result, Pid, _} = M -> self() ! M, done after 0 -> not_yet end.

%% A helper that, when told, collects its own socket messages and reports them.
collector() ->
    spawn_link(fun() -> receive {go, From} -> From ! {collected, self(), msgs()} end,
                        receive stop -> ok end end).
collect(H) ->
    H ! {go, self()},
    receive {collected, H, Ms} -> Ms after 3000 -> collect_timeout end.

bytes(N) -> binary:part(binary:copy(<<"0123456789abcdef">>, N div 16 + 1), 0, N).

%% Read until error or timeout; returns {TotalBytes, FinalResult}.
drain(S) -> drain(S, 0, 1000).
drain(S, Acc, T) ->
    case gen_tcp:recv(S, 0, T) of
        {ok, D} -> drain(S, Acc + iolist_size(D), T);
        Other -> {Acc, Other}
    end.

%% Send Chunk until a non-ok result (max N times). Returns {OkCount, Result}.
send_until_error(S, Chunk, N) -> send_until_error(S, Chunk, N, 0).
send_until_error(_S, _Chunk, 0, Oks) -> {Oks, still_ok};
send_until_error(S, Chunk, N, Oks) ->
    case gen_tcp:send(S, Chunk) of
        ok -> send_until_error(S, Chunk, N - 1, Oks + 1);
        Err -> {Oks, Err}
    end.

opt(S, Name) ->
    case inet:getopts(S, [Name]) of
        {ok, [{Name, V}]} -> V;
        Other -> Other
    end.

%% Small kernel buffers so that the driver queue fills quickly in flow-control scenarios.
-define(SMALL_L, [{recbuf, 8192}]).
-define(SMALL_C, [{sndbuf, 8192}]).

%% ===================================================================================
%% Normalization and printing
%% ===================================================================================

norm(T) when is_port(T) ->
    case get({sock, T}) of undefined -> port; N -> N end;
norm(T) when is_pid(T) -> pid;
norm(T) when is_reference(T) -> ref;
norm(T) when is_function(T) -> 'fun';
norm(T) when is_binary(T), byte_size(T) > 64 -> {bin, byte_size(T), erlang:crc32(T)};
norm(T) when is_tuple(T) -> list_to_tuple([norm(E) || E <- tuple_to_list(T)]);
norm(T) when is_map(T) -> maps:from_list([{norm(K), norm(V)} || {K, V} <- maps:to_list(T)]);
norm(T) when is_list(T) ->
    case is_bytelist(T, 0) of
        N when is_integer(N), N > 64 -> {list, N, erlang:crc32(T)};
        _ -> norm_cons(T)
    end;
norm(T) -> T.

norm_cons([H | T]) -> [norm(H) | norm_cons(T)];
norm_cons([]) -> [];
norm_cons(T) -> norm(T).

is_bytelist([], N) -> N;
is_bytelist([H | T], N) when is_integer(H), H >= 0, H =< 255 -> is_bytelist(T, N + 1);
is_bytelist(_, _) -> false.

fmt(T) -> lists:flatten(fmt1(T)).

fmt1(T) when is_atom(T) -> io_lib:write_atom(T);
fmt1(T) when is_integer(T) -> integer_to_list(T);
fmt1(T) when is_binary(T) -> fmt_bin(T);
fmt1(T) when is_tuple(T) -> ["{", join([fmt1(E) || E <- tuple_to_list(T)]), "}"];
fmt1([]) -> "[]";
fmt1(T) when is_list(T) -> ["[", fmt_list(T), "]"];
fmt1(T) -> io_lib:format("~w", [T]).

fmt_list([H]) -> fmt1(H);
fmt_list([H | T]) when is_list(T) -> [fmt1(H), ",", fmt_list(T)];
fmt_list([H | T]) -> [fmt1(H), "|", fmt1(T)].

fmt_bin(<<>>) -> "<<>>";
fmt_bin(B) ->
    case lists:all(fun(C) -> C >= 32 andalso C =< 126 andalso C =/= $" andalso C =/= $\\ end,
                   binary_to_list(B)) of
        true -> ["<<\"", binary_to_list(B), "\">>"];
        false -> ["<<", join([integer_to_list(C) || <<C>> <= B]), ">>"]
    end.

join([]) -> [];
join([H]) -> [H];
join([H | T]) -> [H, "," | join(T)].

%% ===================================================================================
%% §1 API surface and return values
%% ===================================================================================

%% §1 connect row: {error,econnrefused} for a closed port, also for port 0 (connect_refused)
connect_refused() ->
    {ok, L} = gen_tcp:listen(0, [{ip, ?IP}]),
    P = port(L),
    ok = gen_tcp:close(L),
    [gen_tcp:connect(?IP, P, [], 1000), gen_tcp:connect(?IP, 0, [], 1000)].

%% §1 connect row: {error,eaddrinuse} when the local {port,P} is busy (connect_local_port_in_use)
connect_local_port_in_use() ->
    L = listen([]),
    C = connect(L, []),
    {ok, {_, CP}} = inet:sockname(C),
    [gen_tcp:connect(?IP, port(L), [{port, port(L)}], 1000),
     gen_tcp:connect(?IP, port(L), [{port, CP}], 1000)].

%% §1 connect row: bad option/{active,maybe}/bad IP -> exit badarg; port out of range ->
%% function_clause; negative timeout -> error badarg (connect_bad_args)
connect_bad_args() ->
    L = listen([]),
    P = port(L),
    [x(fun() -> gen_tcp:connect(?IP, P, [{active, maybe}], 1000) end),
     x(fun() -> gen_tcp:connect(?IP, P, [{foo, bar}], 1000) end),
     x(fun() -> gen_tcp:connect(?IP, P, [{packet, 3}], 1000) end),
     x(fun() -> gen_tcp:connect({127,0,0}, P, [], 1000) end),
     x(fun() -> gen_tcp:connect({127,0,0,256}, P, [], 1000) end),
     x(fun() -> gen_tcp:connect(?IP, 65536, [], 1000) end),
     x(fun() -> gen_tcp:connect(?IP, -1, [], 1000) end),
     x(fun() -> gen_tcp:connect(?IP, P, [], -1) end)].

%% §1 prose: "localhost", localhost and "127.0.0.1" all work as addresses (connect_address_forms)
connect_address_forms() ->
    L = listen([]),
    P = port(L),
    [reg_ok(gen_tcp:connect(Addr, P, [], 1000), s) || Addr <- ["localhost", localhost, "127.0.0.1"]].

%% §1 listen row + §8 reuseaddr row: second listener -> eaddrinuse, even with reuseaddr (listen_eaddrinuse)
listen_eaddrinuse() ->
    L = listen([]),
    P = port(L),
    {ok, L2} = gen_tcp:listen(0, [{ip, ?IP}, {reuseaddr, true}]),
    P2 = port(L2),
    [gen_tcp:listen(P, [{ip, ?IP}]),
     gen_tcp:listen(P, [{ip, ?IP}, {reuseaddr, true}]),
     gen_tcp:listen(P2, [{ip, ?IP}, {reuseaddr, true}])].

%% §1 listen row: bad option/port/ip -> exit badarg (listen_bad_args)
listen_bad_args() ->
    [x(fun() -> gen_tcp:listen(65536, []) end),
     x(fun() -> gen_tcp:listen(-1, []) end),
     x(fun() -> gen_tcp:listen(0, [{foo, 1}]) end),
     x(fun() -> gen_tcp:listen(0, [{active, maybe}]) end),
     x(fun() -> gen_tcp:listen(0, [{ip, {1,2,3}}]) end)].

%% §1 listen row: {backlog,-1} is accepted (listen_backlog_negative)
listen_backlog_negative() ->
    [reg_ok(gen_tcp:listen(0, [{ip, ?IP}, {backlog, -1}]), l)].

%% §1 prose: {port,P} in the options overrides the port argument (listen_port_option_overrides)
listen_port_option_overrides() ->
    {ok, L0} = gen_tcp:listen(0, [{ip, ?IP}]),
    P = port(L0),
    gen_tcp:close(L0),
    {ok, L} = reg_ok(gen_tcp:listen(0, [{ip, ?IP}, {port, P}]), l),
    [inet:port(L) =:= {ok, P}].

%% §1 prose: listen(0,[]) binds 0.0.0.0 and gets an OS-chosen port (listen_port0_any)
listen_port0_any() ->
    {ok, L} = reg_ok(gen_tcp:listen(0, []), l),
    {ok, {IP, P}} = inet:sockname(L),
    [IP =:= {0,0,0,0}, P > 0].

%% §1 accept row: {error,timeout}, also for Timeout 0 (accept_timeout)
accept_timeout() ->
    L = listen([]),
    [gen_tcp:accept(L, 0), gen_tcp:accept(L, 100)].

%% §1 accept row: accept on a closed L -> {error,closed} (accept_closed)
accept_closed() ->
    L = listen([]),
    ok = gen_tcp:close(L),
    [gen_tcp:accept(L, 100), gen_tcp:accept(L)].

%% §1 accept row: {error,closed} when L is closed while accept is blocked (accept_closed_while_blocked)
accept_closed_while_blocked() ->
    L = listen([]),
    H = async(fun() -> gen_tcp:accept(L, 2000) end),
    sl(),
    [gen_tcp:close(L), await(H)].

%% §1 accept row: {error,closed} when L's owner dies while another process accepts (accept_listen_owner_dies)
accept_listen_owner_dies() ->
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, L} = gen_tcp:listen(0, [{ip, ?IP}]),
                          Self ! {lsock, L},
                          receive stop -> ok end
                  end),
    L = receive {lsock, L0} -> reg(L0, l) end,
    H = async(fun() -> gen_tcp:accept(L, 2000) end),
    sl(),
    exit(Owner, kill),
    [await(H)].

%% §1 accept row: {error,einval} on a connected socket (accept_on_connected_socket)
accept_on_connected_socket() ->
    {_L, C, A} = pair(),
    [gen_tcp:accept(C, 100), gen_tcp:accept(A, 0)].

%% §1 send row: non-iodata -> einval; on L -> enotconn (send_bad_data)
send_bad_data() ->
    {L, C, A} = pair(),
    [gen_tcp:send(C, [256]), gen_tcp:send(C, foo), gen_tcp:send(C, [-1]),
     gen_tcp:send(L, <<"x">>), gen_tcp:recv(A, 0, 100)].

%% §1 recv row: on L -> enotconn; Len<0 -> error function_clause (recv_bad_args)
recv_bad_args() ->
    {L, C, _A} = pair(),
    [gen_tcp:recv(L, 0, 100), x(fun() -> gen_tcp:recv(C, -1, 100) end)].

%% §1 close row: always ok - twice, on closed, on L (close_twice)
close_twice() ->
    {L, C, A} = pair(),
    [gen_tcp:close(C), gen_tcp:close(C), gen_tcp:close(L), gen_tcp:close(L),
     gen_tcp:close(A), gen_tcp:close(A)].

%% §1 prose: ops on a socket closed by its owner (ops_after_own_close)
ops_after_own_close() ->
    {_L, C, _A} = pair(),
    H = collector(),
    ok = gen_tcp:close(C),
    [gen_tcp:send(C, <<"x">>), gen_tcp:recv(C, 0, 100), gen_tcp:shutdown(C, write),
     gen_tcp:controlling_process(C, H), gen_tcp:controlling_process(C, self()),
     inet:setopts(C, [{active, true}]), inet:getopts(C, [active]),
     inet:peername(C), inet:sockname(C), inet:port(C), inet:getstat(C),
     gen_tcp:close(C), inet:close(C)].

%% §1 shutdown row: L -> enotconn; bad How -> function_clause; closed -> closed (shutdown_error_cases)
shutdown_error_cases() ->
    {L, C, _A} = pair(),
    R1 = [gen_tcp:shutdown(L, write), gen_tcp:shutdown(L, read), gen_tcp:shutdown(L, read_write),
          x(fun() -> gen_tcp:shutdown(C, foo) end)],
    ok = gen_tcp:close(C),
    R1 ++ [gen_tcp:shutdown(C, write), gen_tcp:shutdown(C, read)].

%% §1 peername/sockname/port row: names match between C and A; L peername enotconn (connect_accept_names)
connect_accept_names() ->
    {L, C, A} = pair(),
    {ok, CS} = inet:sockname(C), {ok, CP} = inet:peername(C),
    {ok, AS} = inet:sockname(A), {ok, AP} = inet:peername(A),
    {ok, {_, LP}} = inet:sockname(L),
    [CS =:= AP, CP =:= AS, inet:port(L) =:= {ok, LP}, inet:port(C) =:= {ok, element(2, CS)},
     element(1, CS) =:= ?IP, inet:peername(L)].

%% §2 getstat of a fresh socket: all ten counters 0, in order (getstat_fresh)
getstat_fresh() ->
    {L, C, A} = pair(),
    [inet:getstat(C), inet:getstat(A), inet:getstat(L)].

%% §1 getstat row: unknown key or closed -> {error,einval} (getstat_errors)
getstat_errors() ->
    {_L, C, _A} = pair(),
    R = [inet:getstat(C, [foo]), inet:getstat(C, [recv_oct, foo]), inet:getstat(C, [send_cnt])],
    gen_tcp:close(C),
    R ++ [inet:getstat(C), inet:getstat(C, [send_cnt])].

%% §1 inet:close row: same as gen_tcp:close (inet_close_alias)
inet_close_alias() ->
    {_L, C, A} = pair(),
    [inet:close(A), gen_tcp:recv(C, 0, 500), gen_tcp:send(A, <<"x">>)].

%% ===================================================================================
%% §2 Defaults
%% ===================================================================================

-define(DEFOPTS, [active, mode, packet, packet_size, header, nodelay, keepalive, reuseaddr,
                  high_watermark, low_watermark, buffer, send_timeout, send_timeout_close,
                  show_econnreset, exit_on_close, delay_send, deliver, high_msgq_watermark,
                  low_msgq_watermark, linger]).

%% §2 defaults table on L (listen without options except ip)
defaults_listen() ->
    {ok, L} = reg_ok(gen_tcp:listen(0, [{ip, ?IP}]), l),
    [inet:getopts(L, ?DEFOPTS)].

%% §2 defaults table on C (connect without options)
defaults_connect() ->
    {ok, L} = reg_ok(gen_tcp:listen(0, [{ip, ?IP}]), l),
    {ok, C} = reg_ok(gen_tcp:connect(?IP, port(L), []), c),
    [inet:getopts(C, ?DEFOPTS)].

%% §2 defaults table on A (accepted from a listener without options)
defaults_accept() ->
    {ok, L} = reg_ok(gen_tcp:listen(0, [{ip, ?IP}]), l),
    {ok, _C} = reg_ok(gen_tcp:connect(?IP, port(L), []), c),
    {ok, A} = reg_ok(gen_tcp:accept(L, 1000), a),
    [inet:getopts(A, ?DEFOPTS)].

%% ===================================================================================
%% §3 Option handling rules
%% ===================================================================================

%% §3 setopts_invalid_is_atomic: one bad entry -> einval, nothing applied
setopts_invalid_is_atomic() ->
    {_L, C, _A} = pair(),
    [inet:setopts(C, [{nodelay, true}, {packet, foo}, {keepalive, true}]),
     inet:getopts(C, [nodelay, keepalive, packet])].

%% §3 setopts_first_wins: setopts applies right-to-left, first occurrence wins
setopts_first_wins() ->
    {_L, C, _A} = pair(),
    [inet:setopts(C, [{nodelay, true}, {nodelay, false}]), inet:getopts(C, [nodelay]),
     inet:setopts(C, [list, binary]), inet:getopts(C, [mode]),
     inet:setopts(C, [binary, list]), inet:getopts(C, [mode]),
     inet:setopts(C, [{packet, 2}, {packet, 4}, {packet, raw}]), inet:getopts(C, [packet])].

%% §3 create_opts_last_wins: connect/listen options, last occurrence wins
create_opts_last_wins() ->
    {ok, L} = reg_ok(gen_tcp:listen(0, [{ip, ?IP}, binary, list, {packet, 2}, {packet, 4},
                                       {nodelay, false}, {nodelay, true}]), l),
    {ok, C} = reg_ok(gen_tcp:connect(?IP, port(L), [list, binary, {active, true},
                                                   {active, false}]), c),
    [inet:getopts(L, [mode, packet, nodelay]), inet:getopts(C, [mode, active])].

%% §3 setopts_active_overflow_partial: options after {active,N} applied, before it not; einval
setopts_active_overflow_partial() ->
    {_L, C, _A} = pair(),
    ok = inet:setopts(C, [{active, 32000}]),
    [inet:setopts(C, [{nodelay, true}, {active, 1000}, {keepalive, true}]),
     inet:getopts(C, [active, nodelay, keepalive])].

%% §3 getopts_*: any unknown name fails the whole call
getopts_unknown_fails() ->
    {_L, C, _A} = pair(),
    [inet:getopts(C, [active, foo]), inet:getopts(C, [foo]), inet:getopts(C, [{active, true}])].

%% §3 getopts_*: backlog and line_delimiter are not gettable
getopts_not_gettable() ->
    {L, C, _A} = pair(),
    [inet:getopts(L, [backlog]), inet:getopts(C, [line_delimiter]),
     inet:getopts(L, [active, backlog])].

%% §3 getopts_*: ipv6_v6only on IPv4 -> {ok,[]}
getopts_ipv6_v6only() ->
    {_L, C, _A} = pair(),
    [inet:getopts(C, [ipv6_v6only]), inet:getopts(C, [ipv6_v6only, nodelay])].

%% §3 getopts_*: duplicates are repeated; [] -> {ok,[]}
getopts_duplicates_and_empty() ->
    {_L, C, _A} = pair(),
    [inet:getopts(C, [nodelay, nodelay, active]), inet:getopts(C, [])].

%% §3 setopts_invalid_values: each is {error,einval}
setopts_invalid_values() ->
    {_L, C, _A} = pair(),
    Bad = [{packet, 3}, {packet, foo}, {packet, -1}, {mode, foo}, {active, maybe},
           {packet_size, -1}, {header, -1}, {send_timeout, -1}, {send_timeout, foo},
           {nodelay, 1}, {keepalive, yes}, {reuseaddr, 0}, {exit_on_close, foo},
           {show_econnreset, 1}, {send_timeout_close, x}, {delay_send, 1}, foo, {foo, 1}],
    [{O, inet:setopts(C, [O])} || O <- Bad] ++ [inet:getopts(C, [packet, mode, active])].

%% §3 setopts_invalid_values (accepted oddities): send_timeout 0, packet_size > 64MiB,
%% buffer -1 (becomes 1), linger {true,-1} (value read back not compared)
setopts_accepted_oddities() ->
    {_L, C, _A} = pair(),
    [inet:setopts(C, [{send_timeout, 0}]), inet:getopts(C, [send_timeout]),
     inet:setopts(C, [{packet_size, 16#4000001}]), inet:getopts(C, [packet_size]),
     inet:setopts(C, [{buffer, -1}]), inet:getopts(C, [buffer]),
     inet:setopts(C, [{linger, {true, -1}}])].

%% §3 line_delimiter_option_quirks: listen exit badarg; connect/setopts ok (even 256); not gettable
line_delimiter_option_quirks() ->
    L = listen([]),
    [x(fun() -> gen_tcp:listen(0, [{ip, ?IP}, {line_delimiter, $;}]) end),
     reg_ok(gen_tcp:connect(?IP, port(L), [{line_delimiter, $;}], 1000), c),
     inet:setopts(L, [{line_delimiter, $;}]),
     inet:setopts(get_c(), [{line_delimiter, 256}]),
     inet:getopts(get_c(), [line_delimiter])].

get_c() -> hd([S || {{sock, S}, c} <- get()]).

%% §3 watermark_setopts_adjust: high < low lowers low; low > high raises high
watermark_setopts_adjust() ->
    {_L, C, _A} = pair(),
    G = fun() -> inet:getopts(C, [high_watermark, low_watermark]) end,
    [inet:setopts(C, [{high_watermark, 1000}]), G(),
     inet:setopts(C, [{low_watermark, 5000}]), G(),
     inet:setopts(C, [{high_watermark, 9000}, {low_watermark, 100}]), G()].

%% §3 watermark_setopts_adjust (msgq variant): same rule for high/low_msgq_watermark?
msgq_watermark_setopts_adjust() ->
    {_L, C, _A} = pair(),
    G = fun() -> inet:getopts(C, [high_msgq_watermark, low_msgq_watermark]) end,
    [inet:setopts(C, [{high_msgq_watermark, 1000}]), G(),
     inet:setopts(C, [{low_msgq_watermark, 5000}]), G()].

%% §3 recbuf_sets_buffer: recbuf raises buffer (never lowers); sndbuf never touches it
recbuf_sets_buffer() ->
    {_L, C, _A} = pair(),
    B = fun() -> opt(C, buffer) end,
    [B(), inet:setopts(C, [{recbuf, 10000}]), B(),
     inet:setopts(C, [{recbuf, 2000}]), B(),
     inet:setopts(C, [{sndbuf, 50000}]), B()].

%% §3 recbuf_sets_buffer: ...unless buffer was set explicitly
recbuf_explicit_buffer_wins() ->
    {_L, C, _A} = pair([], [{buffer, 3000}]),
    B = fun() -> opt(C, buffer) end,
    [B(), inet:setopts(C, [{recbuf, 10000}]), B(),
     inet:setopts(C, [{buffer, 2000}]), inet:setopts(C, [{recbuf, 20000}]), B()].

-define(INHERIT, [mode, packet, packet_size, header, nodelay, keepalive, exit_on_close,
                  show_econnreset, send_timeout, send_timeout_close, delay_send, deliver,
                  linger, high_watermark, low_watermark, buffer, reuseaddr]).

%% §3 accept_inherits_*: A inherits every option of L
accept_inherits_options() ->
    LOpts = [list, {packet, 2}, {packet_size, 1000}, {header, 3}, {nodelay, true},
             {keepalive, true}, {exit_on_close, false}, {show_econnreset, true},
             {send_timeout, 1234}, {send_timeout_close, true}, {delay_send, true},
             {deliver, port}, {linger, {true, 7}}, {high_watermark, 20000},
             {low_watermark, 10000}, {buffer, 3333}, {reuseaddr, true}],
    {L, _C, A} = pair(LOpts, []),
    {ok, LV} = inet:getopts(L, ?INHERIT),
    {ok, AV} = inet:getopts(A, ?INHERIT),
    [LV =:= AV, AV].

%% §3 accept_inherits_*: active once is inherited
accept_inherits_active_once() ->
    {_L, C, A} = pair([{active, once}], []),
    R = [opt(A, active)],
    ok = gen_tcp:send(C, <<"a">>),
    M1 = next(),
    ok = gen_tcp:send(C, <<"b">>), sl(),
    R ++ [[M1 | msgs()], opt(A, active)].

%% §3 accept_inherits_*: the {active,N} count is inherited
accept_inherits_active_n() ->
    L = listen([{active, 3}]),
    _C = connect(L, []),
    A = accept(L),
    [opt(L, active), opt(A, active), msgs()].

%% §3 default_connect_env: kernel inet_default_connect_options read at every connect
default_connect_env() ->
    L = listen([]),
    P = port(L),
    Conn = fun(Opts) ->
                   {ok, S} = reg_ok(gen_tcp:connect(?IP, P, Opts, 1000), s),
                   R = inet:getopts(S, [nodelay, active, packet]),
                   gen_tcp:close(S),
                   R
           end,
    try
        application:set_env(kernel, inet_default_connect_options, [{nodelay, true}]),
        R1 = Conn([]),
        R2 = Conn([{nodelay, false}]),
        application:set_env(kernel, inet_default_connect_options, {packet, 2}),
        R3 = Conn([]),
        application:set_env(kernel, inet_default_connect_options, [{active, false}]),
        R4 = Conn([]),
        [R1, R2, R3, R4]
    after
        application:unset_env(kernel, inet_default_connect_options)
    end.

%% §3 default_listen_env: kernel inet_default_listen_options read at every listen
default_listen_env() ->
    Lis = fun(Opts) ->
                  {ok, S} = reg_ok(gen_tcp:listen(0, [{ip, ?IP} | Opts]), l),
                  R = inet:getopts(S, [nodelay, active, packet]),
                  gen_tcp:close(S),
                  R
          end,
    try
        application:set_env(kernel, inet_default_listen_options, [{nodelay, true}]),
        R1 = Lis([]),
        R2 = Lis([{nodelay, false}]),
        application:set_env(kernel, inet_default_listen_options, {packet, 2}),
        R3 = Lis([]),
        application:set_env(kernel, inet_default_listen_options, [{active, false}]),
        R4 = Lis([]),
        [R1, R2, R3, R4]
    after
        application:unset_env(kernel, inet_default_listen_options)
    end.

%% §3 default_listen_env_backlog: {backlog,N} in inet_default_listen_options breaks listen
default_listen_env_backlog() ->
    try
        application:set_env(kernel, inet_default_listen_options, [{backlog, 10}]),
        [reg_ok(gen_tcp:listen(0, [{ip, ?IP}]), l),
         reg_ok(gen_tcp:listen(0, [{ip, ?IP}, {backlog, 3}]), l)]
    after
        application:unset_env(kernel, inet_default_listen_options)
    end.

%% ===================================================================================
%% §4 Passive receive
%% ===================================================================================

%% §4 recv0_chunk_is_buffer: recv(S,0) returns at most buffer (1460) bytes
recv0_chunk_is_buffer() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, bytes(4000)), sl(),
    [size_of(gen_tcp:recv(C, 0, 500)), size_of(gen_tcp:recv(C, 0, 500)),
     size_of(gen_tcp:recv(C, 0, 500)), gen_tcp:recv(C, 0, 0)].

size_of({ok, D}) -> {ok, iolist_size(D)};
size_of(R) -> R.

%% §4 recv0_chunk_is_buffer: with {buffer,5000}
recv0_chunk_is_buffer_5000() ->
    {_L, C, A} = pair([], [{buffer, 5000}]),
    ok = gen_tcp:send(A, bytes(12000)), sl(),
    [size_of(gen_tcp:recv(C, 0, 500)), size_of(gen_tcp:recv(C, 0, 500)),
     size_of(gen_tcp:recv(C, 0, 500)), gen_tcp:recv(C, 0, 0)].

%% §4 recv_len_exact: exactly N bytes, rest stays buffered
recv_len_exact() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, <<"abcdef">>), sl(),
    [gen_tcp:recv(C, 4, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 0)].

%% §4 recv_len_waits_for_more: recv(N) waits until N bytes are there
recv_len_waits_for_more() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, <<"abc">>),
    _ = async(fun() -> sl(), gen_tcp:send(A, <<"def">>), sl(), gen_tcp:send(A, <<"gh">>) end),
    [gen_tcp:recv(C, 6, 2000), gen_tcp:recv(C, 0, 500)].

%% §4 recv_len_larger_than_buffer: N may exceed buffer
recv_len_larger_than_buffer() ->
    {_L, C, A} = pair(),
    Data = bytes(5000),
    ok = gen_tcp:send(A, Data),
    R = gen_tcp:recv(C, 5000, 2000),
    [size_of(R), R =:= {ok, Data}].

%% §4 recv_len_limit: N > 64 MiB -> enomem; 64 MiB itself allowed
recv_len_limit() ->
    {_L, C, _A} = pair(),
    [gen_tcp:recv(C, 16#4000001, 0), gen_tcp:recv(C, 16#4000000, 0),
     gen_tcp:recv(C, 16#4000001, 100)].

%% §4 recv_len_in_packet_mode: recv(N>0) with packet =/= raw -> einval, data untouched
recv_len_in_packet_mode() ->
    {_L, C, A} = pair([{packet, 2}], [{packet, 2}]),
    ok = gen_tcp:send(A, <<"hello">>), sl(),
    [gen_tcp:recv(C, 3, 100), gen_tcp:recv(C, 0, 500)].

%% §4 recv_len_peer_closes_short: peer closes while < N bytes buffered -> closed, partial lost
recv_len_peer_closes_short() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, <<"ab">>),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 5, 500), gen_tcp:recv(C, 0, 100), gen_tcp:recv(C, 1, 100)].

%% §4 recv_len_blocked_then_peer_closes: blocked recv(N), peer sends less then closes
recv_len_blocked_then_peer_closes() ->
    {_L, C, A} = pair(),
    _ = async(fun() -> sl(), gen_tcp:send(A, <<"ab">>), sl(), gen_tcp:close(A) end),
    [gen_tcp:recv(C, 5, 2000), gen_tcp:recv(C, 0, 100)].

%% §4 recv_len_partial_then_closed: N <= buffered: data first, then closed
recv_len_partial_then_closed() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, <<"abc">>),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 2, 500), gen_tcp:recv(C, 1, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:recv(C, 0, 100)].

%% §4 recv_timeout_*: {error,timeout}; Timeout 0 = poll
recv_timeout_poll() ->
    {_L, C, A} = pair(),
    R1 = [gen_tcp:recv(C, 0, 0), gen_tcp:recv(C, 0, 100)],
    ok = gen_tcp:send(A, <<"xy">>), sl(),
    R1 ++ [gen_tcp:recv(C, 0, 0), gen_tcp:recv(C, 0, 0)].

%% §4 recv_timeout_* (NOT in the reference; quirk found on real erl): after recv(S,N>0,0)
%% times out on an empty socket, the driver keeps waiting for N bytes: recv(S,0,T) then
%% times out although fewer than N bytes are buffered, until more data arrives.
recv_len_poll_timeout_stale_length() ->
    {_L, C, A} = pair(),
    R1 = gen_tcp:recv(C, 3, 0),
    ok = gen_tcp:send(A, <<"xy">>), sl(),
    R2 = gen_tcp:recv(C, 0, 0),
    R3 = gen_tcp:recv(C, 0, 100),
    ok = gen_tcp:send(A, <<"more">>), sl(),
    [R1, R2, R3, gen_tcp:recv(C, 0, 100), gen_tcp:recv(C, 0, 100), gen_tcp:recv(C, 0, 0)].

%% §4 recv_timeout_*: no data lost on timeout, partial bytes stay for the next recv
recv_timeout_keeps_partial() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    R1 = gen_tcp:recv(C, 5, 100),
    ok = gen_tcp:send(A, <<"cde">>), sl(),
    [R1, gen_tcp:recv(C, 5, 500), gen_tcp:recv(C, 0, 0)].

%% §4 packet2_timeout_keeps_partial: partial packet survives a timeout
packet2_timeout_keeps_partial() ->
    {_L, C, A} = pair([], [{packet, 2}]),
    ok = gen_tcp:send(A, <<0, 5, "ab">>), sl(),
    R1 = gen_tcp:recv(C, 0, 100),
    ok = gen_tcp:send(A, <<"cde", 0, 1, "f">>), sl(),
    [R1, gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)].

%% §4 recv_concurrent_ealready: second recv -> ealready; first still gets the data
recv_concurrent_ealready() ->
    {_L, C, A} = pair(),
    H = async(fun() -> gen_tcp:recv(C, 0, 2000) end),
    sl(),
    R1 = gen_tcp:recv(C, 0, 100),
    R2 = gen_tcp:recv(C, 0, 0),
    ok = gen_tcp:send(A, <<"x">>),
    [R1, R2, await(H)].

%% §4 recv_non_owner: recv by a non-owner process is allowed
recv_non_owner() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, <<"hi">>),
    H = async(fun() -> gen_tcp:recv(C, 0, 1000) end),
    [await(H)].

%% §4 recv_on_active_socket: true/once/N -> einval
recv_on_active_socket() ->
    {_L, C, _A} = pair(),
    [begin ok = inet:setopts(C, [{active, Mode}]), gen_tcp:recv(C, 0, 100) end
     || Mode <- [true, once, 5]] ++ [msgs()].

%% §4 recv_blocked_peer_rst: blocked recv, peer RSTs -> closed
recv_blocked_peer_rst() ->
    {_L, C, A} = pair([{linger, {true, 0}}], []),
    _ = async(fun() -> sl(), gen_tcp:close(A) end),
    [gen_tcp:recv(C, 0, 2000), gen_tcp:recv(C, 0, 100), gen_tcp:send(C, <<"x">>),
     gen_tcp:send(C, <<"x">>)].

%% §4 recv_blocked_peer_rst_show: same with show_econnreset -> econnreset
recv_blocked_peer_rst_show() ->
    {_L, C, A} = pair([{linger, {true, 0}}], [{show_econnreset, true}]),
    _ = async(fun() -> sl(), gen_tcp:close(A) end),
    [gen_tcp:recv(C, 0, 2000), gen_tcp:recv(C, 0, 100), gen_tcp:send(C, <<"x">>)].

%% §4 recv_blocked_own_close: recv blocked in another process, owner closes -> closed
recv_blocked_own_close() ->
    {_L, C, A} = pair(),
    H = async(fun() -> gen_tcp:recv(C, 0, 2000) end),
    sl(),
    [gen_tcp:close(C), await(H), gen_tcp:recv(A, 0, 500)].

%% ===================================================================================
%% §5 Active modes and messages
%% ===================================================================================

%% §5 active_true_data_then_closed: all data, then one tcp_closed
active_true_data_then_closed() ->
    {_L, _C, A} = pair([], [{active, true}]),
    ok = gen_tcp:send(A, <<"ab">>),
    M1 = next(),
    ok = gen_tcp:send(A, <<"cd">>),
    M2 = next(),
    ok = gen_tcp:close(A),
    [[M1, M2 | msgs()]].

%% §5 active_chunk_is_buffer: 10000 bytes -> 6x1460 + 1240
active_chunk_is_buffer() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, bytes(10000)), sl(),
    ok = inet:setopts(C, [{active, true}]),
    [[{T, S, byte_size(D)} || {T, S, D} <- msgs()]].

%% §5 active_once_rearm: one message, then passive; re-arm gets the next one
active_once_rearm() ->
    {_L, C, A} = pair([], [{active, once}]),
    ok = gen_tcp:send(A, <<"ab">>),
    M1 = next(),
    ok = gen_tcp:send(A, <<"cd">>), sl(),
    R1 = [M1 | msgs()],
    R2 = opt(C, active),
    ok = inet:setopts(C, [{active, once}]),
    R3 = msgs(),
    ok = gen_tcp:close(A), sl(),
    R4 = msgs(),
    ok = inet:setopts(C, [{active, once}]),
    R5 = msgs(),
    [R1, R2, R3, R4, R5, gen_tcp:send(C, <<"x">>), inet:getopts(C, [active])].

%% §5 active_once_close_seen_while_passive: nothing until re-activated, then tcp_closed
active_once_close_seen_while_passive() ->
    {_L, C, A} = pair([], [{active, once}]),
    ok = gen_tcp:send(A, <<"ab">>),
    R1 = [next() | msgs()],
    ok = gen_tcp:close(A), sl(),
    R2 = msgs(),
    ok = inet:setopts(C, [{active, once}]),
    [R1, R2, msgs()].

%% §5 active_after_close_detected_passive: data first, then tcp_closed on re-activation
active_after_close_detected_passive() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    ok = gen_tcp:send(A, <<"cd">>),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:recv(C, 1, 100),
    R2 = msgs(),
    ok = inet:setopts(C, [{active, true}]),
    [R1, R2, msgs()].

%% §5 active_n_passive_msg: counter reaching 0 -> tcp_passive and active=false
active_n_passive_msg() ->
    {_L, C, A} = pair([], [{active, 3}]),
    ok = gen_tcp:send(A, <<"a">>),
    M1 = next(),
    R1 = opt(C, active),
    ok = gen_tcp:send(A, <<"b">>),
    M2 = next(),
    ok = gen_tcp:send(A, <<"c">>),
    M3 = next(),
    ok = gen_tcp:send(A, <<"d">>), sl(),
    [R1, [M1, M2, M3 | msgs()], opt(C, active), gen_tcp:recv(C, 0, 100)].

%% §5 active_n_counter_rules: negative clamps at 0 (tcp_passive), overflow einval,
%% true/false/once replace the counter
active_n_counter_rules() ->
    {_L, C, _A} = pair(),
    S = fun(V) -> R = inet:setopts(C, [{active, V}]), {V, R, opt(C, active), msgs(50)} end,
    [S(10), S(-3), S(-20), S(5), S(32767), S(32762), S(1), S(true), S(-1), S(once), S(7),
     S(false), S(32768), S(-32769), S(-32768)].

%% §5 active_n_counter_rules: {active,0} sends tcp_passive every time
active_n_zero_always_passive_msg() ->
    {_L, C, _A} = pair(),
    S = fun(V) -> R = inet:setopts(C, [{active, V}]), {V, R, opt(C, active), msgs(50)} end,
    [S(0), S(0), S(true), S(0), S(once), S(0), S(4), S(0)].

%% §5 active_n_close_no_passive: close while N>0 -> data, tcp_closed, no tcp_passive
active_n_close_no_passive() ->
    {_L, _C, A} = pair([], [{active, 2}]),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    ok = gen_tcp:close(A),
    [msgs()].

%% §5 active_listen_socket_passive_msg: {active,0}/counter 0 on L -> {tcp_passive,L}
active_listen_socket_passive_msg() ->
    L = listen([]),
    S = fun(V) -> R = inet:setopts(L, [{active, V}]), {V, R, opt(L, active), msgs(50)} end,
    [S(0), S(2), S(-2), S(3), S(true)].

%% §5 active_closed_then_send: after tcp_closed (eoc) the socket is gone
active_closed_then_send() ->
    {_L, C, A} = pair([], [{active, true}]),
    ok = gen_tcp:close(A), sl(),
    [msgs(), gen_tcp:send(C, <<"x">>), gen_tcp:send(C, <<"x">>), inet:getopts(C, [active]),
     gen_tcp:recv(C, 0, 100), gen_tcp:close(C)].

%% §5 own_close_active_no_msg: no tcp_closed for your own close
own_close_active_no_msg() ->
    {_L, C, A} = pair([{active, true}], [{active, true}]),
    ok = gen_tcp:send(A, <<"x">>), sl(),
    [gen_tcp:close(C), msgs()].

%% §5 close_flushes_tcp_closed: close/1 removes a queued {tcp_closed,S}, data stays
close_flushes_tcp_closed() ->
    {_L, C, A} = pair([], [{active, true}]),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    ok = gen_tcp:close(A),
    R1 = wait_mailbox(2),
    [R1, gen_tcp:close(C), msgs()].

%% §5 header_*: {header,2} binary: [B1,B2|Rest]
header_binary() ->
    {_L, _C, A} = pair([], [{active, true}, {header, 2}]),
    ok = gen_tcp:send(A, <<"abcd">>),
    M1 = next(),
    ok = gen_tcp:send(A, <<"xy">>),
    M2 = next(),
    [[M1, M2 | msgs()]].

%% §5 header_*: packet shorter than N is a plain list
header_short_packet() ->
    {_L, _C, A} = pair([], [{active, true}, {header, 3}]),
    ok = gen_tcp:send(A, <<"a">>),
    M1 = next(),
    ok = gen_tcp:send(A, <<"bc">>),
    M2 = next(),
    [[M1, M2 | msgs()]].

%% §5 header_*: passive recv also returns the header list
header_passive_recv() ->
    {_L, C, A} = pair([], [{header, 1}]),
    ok = gen_tcp:send(A, <<"abc">>), sl(),
    R1 = gen_tcp:recv(C, 0, 500),
    ok = gen_tcp:send(A, <<"defg">>), sl(),
    [R1, gen_tcp:recv(C, 2, 500), gen_tcp:recv(C, 0, 500)].

%% §5 header_*: ignored in list mode
header_list_mode_ignored() ->
    {_L, C, A} = pair([], [list, {header, 2}]),
    ok = gen_tcp:send(A, <<"abcd">>), sl(),
    [gen_tcp:recv(C, 0, 500)].

%% §5 non_owner_setopts_active: messages still go to the owner
non_owner_setopts_active() ->
    {_L, C, A} = pair(),
    H = async(fun() -> R = inet:setopts(C, [{active, true}]), sl(100), {R, msgs(50)} end),
    sl(),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    [await(H), msgs()].

%% §5 deliver_port: data message becomes {S,{data,Data}}
deliver_port() ->
    {_L, _C, A} = pair([], [{active, true}, {deliver, port}]),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    ok = gen_tcp:close(A),
    [msgs()].

%% §5 deliver_port_other_msgs: tcp_passive/tcp_error/tcp_closed keep their form
deliver_port_other_msgs() ->
    {_L, C, A} = pair([{linger, {true, 0}}],
                      [list, {active, 1}, {deliver, port}, {show_econnreset, true}]),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    R1 = msgs(),
    ok = inet:setopts(C, [{active, true}]),
    ok = gen_tcp:close(A), sl(),
    [R1, msgs()].

%% ===================================================================================
%% §6 Close, half-close, reset
%% ===================================================================================

%% §6 recv_len0_data_then_closed: FIN seen by recv -> closed, then enotconn
recv_len0_data_then_closed() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, <<"ab">>),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:recv(C, 0, 500)].

%% §6 recv_len0_data_then_closed: later send after recv saw FIN: closed, then enotconn
recv_len0_closed_then_send() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:send(C, <<"x">>), gen_tcp:send(C, <<"x">>),
     gen_tcp:recv(C, 0, 500), inet:getopts(C, [active])].

%% §6 close_unread_rst_recv: close with unread input RSTs the peer; recv closed, enotconn
close_unread_rst_recv() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(C, <<"unread">>), sl(),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:send(C, <<"x">>),
     gen_tcp:send(C, <<"x">>)].

%% §6 close_unread_rst_recv_show: recv econnreset, then enotconn (recv and send)
close_unread_rst_recv_show() ->
    {_L, C, A} = pair([], [{show_econnreset, true}]),
    ok = gen_tcp:send(C, <<"unread">>), sl(),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:send(C, <<"x">>),
     gen_tcp:send(C, <<"x">>)].

%% §6 close_unread_rst_send_show: send detects the RST with show: econnreset, recv econnreset then enotconn
close_unread_rst_send_show() ->
    {_L, C, A} = pair([], [{show_econnreset, true}]),
    ok = gen_tcp:send(C, <<"unread">>), sl(),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:send(C, <<"x">>), gen_tcp:send(C, <<"x">>), gen_tcp:recv(C, 0, 500),
     gen_tcp:recv(C, 0, 500)].

%% §6 close_unread_rst_*: active peer gets tcp_closed only
close_unread_rst_active() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(C, <<"unread">>), sl(),
    ok = inet:setopts(C, [{active, true}]),
    ok = gen_tcp:close(A), sl(),
    [msgs()].

%% §6 close_unread_rst_*: show -> tcp_error econnreset + tcp_closed
close_unread_rst_active_show() ->
    {_L, C, A} = pair([], [{show_econnreset, true}]),
    ok = gen_tcp:send(C, <<"unread">>), sl(),
    ok = inet:setopts(C, [{active, true}]),
    ok = gen_tcp:close(A), sl(),
    [msgs()].

%% §6 linger0_rst_passive: linger {true,0} close = RST; data sent before still delivered
linger0_rst_passive() ->
    {_L, C, A} = pair([{linger, {true, 0}}], []),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:send(C, <<"x">>), gen_tcp:send(C, <<"x">>)].

%% §6 linger0_rst_passive_show
linger0_rst_passive_show() ->
    {_L, C, A} = pair([{linger, {true, 0}}], [{show_econnreset, true}]),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:send(C, <<"x">>)].

%% §6 linger0_rst_active: RST, show=false -> data then tcp_closed only
linger0_rst_active() ->
    {_L, _C, A} = pair([{linger, {true, 0}}], [{active, true}]),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    ok = gen_tcp:close(A), sl(),
    [msgs()].

%% §6 linger0_rst_active_show: data, tcp_error econnreset, tcp_closed
linger0_rst_active_show() ->
    {_L, _C, A} = pair([{linger, {true, 0}}], [{active, true}, {show_econnreset, true}]),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    ok = gen_tcp:close(A), sl(),
    [msgs()].

%% §6 send_after_peer_close: first send ok, next send closed; recv closed then enotconn
send_after_peer_close() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:send(C, <<"x">>), sl(),
    [R1, gen_tcp:send(C, <<"x">>), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:send(C, <<"x">>)].

%% §6 send_after_peer_close_show: send econnreset; recv econnreset then enotconn; send enotconn
send_after_peer_close_show() ->
    {_L, C, A} = pair([], [{show_econnreset, true}]),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:send(C, <<"x">>), sl(),
    [R1, gen_tcp:send(C, <<"x">>), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:send(C, <<"x">>)].

%% Set up C with unread input "ab" and 1 MB of driver-queued output, then the peer A
%% (which has unread input) closes -> RST -> C's background send fails.
bg_send_reset_setup(COpts) ->
    {_L, C, A} = pair(?SMALL_L, ?SMALL_C ++ [{high_watermark, 64 * ?MB}] ++ COpts),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    ok = gen_tcp:send(C, bytes(?MB)), sl(),
    {ok, [{send_pend, Pend}]} = inet:getstat(C, [send_pend]),
    ok = gen_tcp:close(A), sl(100),
    {C, Pend > 0}.

%% §6 bg_send_reset_*: recv first: closed (unread input lost), then enotconn; send enotconn
bg_send_reset_recv() ->
    {C, Queued} = bg_send_reset_setup([]),
    [Queued, gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:send(C, <<"x">>),
     gen_tcp:send(C, <<"x">>)].

%% §6 bg_send_reset_*: send first: closed, then enotconn; recv then?
bg_send_reset_send() ->
    {C, Queued} = bg_send_reset_setup([]),
    [Queued, gen_tcp:send(C, <<"x">>), gen_tcp:send(C, <<"x">>), gen_tcp:recv(C, 0, 500),
     gen_tcp:recv(C, 0, 500)].

%% §6 bg_send_reset_*: active (activated after the failure): tcp_closed without the data
bg_send_reset_active() ->
    {C, Queued} = bg_send_reset_setup([]),
    R = inet:setopts(C, [{active, true}]),
    [Queued, R, msgs()].

%% §6 bg_send_reset_*: active + show: tcp_error econnreset + tcp_closed without the data
bg_send_reset_active_show() ->
    {C, Queued} = bg_send_reset_setup([{show_econnreset, true}]),
    R = inet:setopts(C, [{active, true}]),
    [Queued, R, msgs()].

%% §6 recv_len0_data_then_closed_eoc_false: closed forever, send ok while peer accepts
recv_len0_data_then_closed_eoc_false() ->
    {_L, C, A} = pair([], [{exit_on_close, false}]),
    ok = gen_tcp:send(A, <<"ab">>),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:recv(C, 3, 500)].

%% §6 eoc_false_closed_socket_ops: after a send error, closed forever; options still work
eoc_false_closed_socket_ops() ->
    {_L, C, A} = pair([], [{exit_on_close, false}]),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:recv(C, 0, 500),
    R2 = gen_tcp:send(C, <<"x">>), sl(),
    [R1, R2, gen_tcp:send(C, <<"x">>), gen_tcp:send(C, <<"x">>), gen_tcp:recv(C, 0, 500),
     inet:getopts(C, [exit_on_close]), gen_tcp:shutdown(C, write), gen_tcp:close(C),
     gen_tcp:send(C, <<"x">>)].

%% §6 send_after_peer_fin_unread: peer shut down write, we have not read EOF: send ok, delivered
send_after_peer_fin_unread() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:shutdown(A, write), sl(),
    [gen_tcp:send(C, <<"hi">>), gen_tcp:recv(A, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:recv(C, 0, 500)].

%% §6 shutdown_write_peer_recv: peer (eoc) reads data, closed; then peer socket self-closes
shutdown_write_peer_recv() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(C, <<"ab">>),
    R0 = gen_tcp:shutdown(C, write), sl(),
    [R0, gen_tcp:recv(A, 0, 500), gen_tcp:recv(A, 0, 500), gen_tcp:send(A, <<"x">>),
     gen_tcp:recv(A, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)].

%% §6 shutdown_write_data_before_fin: data sent before shutdown(write) arrives first
shutdown_write_data_before_fin() ->
    {_L, C, _A} = pair([{active, true}], []),
    ok = gen_tcp:send(C, <<"ab">>),
    M1 = next(),
    ok = gen_tcp:send(C, <<"cd">>),
    ok = gen_tcp:shutdown(C, write), sl(),
    [[M1 | msgs()]].

%% §6 shutdown_write_self_still_recv: C can still recv while the peer keeps the socket
shutdown_write_self_still_recv() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:shutdown(C, write), sl(),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    R1 = gen_tcp:recv(C, 0, 500),
    ok = gen_tcp:send(A, <<"cd">>), sl(),
    [R1, gen_tcp:recv(C, 0, 500), gen_tcp:recv(A, 0, 500), gen_tcp:send(A, <<"x">>),
     gen_tcp:recv(C, 0, 500)].

%% §6 shutdown_write_peer_eoc_false: peer keeps sending after closed, must close explicitly
shutdown_write_peer_eoc_false() ->
    {_L, C, A} = pair([{exit_on_close, false}], []),
    ok = gen_tcp:shutdown(C, write), sl(),
    R1 = gen_tcp:recv(A, 0, 500),
    R2 = gen_tcp:recv(A, 0, 500),
    R3 = gen_tcp:send(A, <<"hi">>), sl(),
    R4 = gen_tcp:recv(C, 0, 500),
    R5 = gen_tcp:close(A), sl(),
    [R1, R2, R3, R4, R5, gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)].

%% §6 shutdown_write_active_peer_eoc_false: tcp_closed once, re-arming sends nothing more
shutdown_write_active_peer_eoc_false() ->
    {_L, C, A} = pair([{exit_on_close, false}, {active, true}], []),
    ok = gen_tcp:shutdown(C, write), sl(),
    R1 = msgs(),
    R2 = gen_tcp:send(A, <<"hi">>), sl(),
    R3 = gen_tcp:recv(C, 0, 500),
    ok = inet:setopts(A, [{active, once}]),
    R4 = msgs(),
    ok = inet:setopts(A, [{active, true}]),
    [R1, R2, R3, R4, msgs(), gen_tcp:close(A), gen_tcp:recv(C, 0, 500)].

%% §6 eoc_false_active_peer_close: C active eoc=false: data, tcp_closed once, nothing on re-arm
eoc_false_active_peer_close() ->
    {_L, C, A} = pair([], [{active, true}, {exit_on_close, false}]),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    ok = gen_tcp:close(A), sl(),
    R1 = msgs(),
    ok = inet:setopts(C, [{active, once}]),
    R2 = msgs(),
    [R1, R2, inet:getopts(C, [active]), gen_tcp:recv(C, 0, 100)].

%% §6 shutdown_write_then_send: send closed then enotconn; shutdown again enotconn
shutdown_write_then_send() ->
    {_L, C, _A} = pair(),
    [gen_tcp:shutdown(C, write), gen_tcp:send(C, <<"x">>), gen_tcp:send(C, <<"x">>),
     gen_tcp:shutdown(C, write), gen_tcp:shutdown(C, read)].

%% §6 shutdown_write_pending_output: ok at once; FIN after queue drains; peer gets all bytes
shutdown_write_pending_output() ->
    {_L, C, A} = pair(?SMALL_L, ?SMALL_C ++ [{high_watermark, 64 * ?MB}]),
    Data = bytes(?MB),
    ok = gen_tcp:send(C, Data), sl(),
    {ok, [{send_pend, Pend}]} = inet:getstat(C, [send_pend]),
    T0 = erlang:monotonic_time(millisecond),
    R = gen_tcp:shutdown(C, write),
    Fast = erlang:monotonic_time(millisecond) - T0 < 100,
    {Total, End} = drain(A),
    [Pend > 0, R, Fast, Total =:= byte_size(Data), End].

%% §6 shutdown_read_then_recv: buffered and later data still returned, then closed
shutdown_read_then_recv() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, <<"ab">>), sl(),
    R1 = gen_tcp:shutdown(C, read),
    ok = gen_tcp:send(A, <<"cd">>), sl(),
    [R1, gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:send(C, <<"x">>)].

%% §6 shutdown_read_write: both sides read closed; send closed
shutdown_read_write() ->
    {_L, C, A} = pair(),
    R1 = gen_tcp:shutdown(C, read_write), sl(),
    [R1, gen_tcp:recv(C, 0, 500), gen_tcp:recv(A, 0, 500), gen_tcp:send(C, <<"x">>)].

%% §6 close_waits_for_pending_output: close/1 blocks until the queue drains; peer gets everything
close_waits_for_pending_output() ->
    {_L, C, A} = pair(?SMALL_L, ?SMALL_C ++ [{high_watermark, 64 * ?MB}]),
    Data = bytes(?MB),
    R0 = gen_tcp:send(C, Data), sl(),
    H = async(fun() -> gen_tcp:close(C) end),
    sl(300),
    Before = done_yet(H),
    {Total, End} = drain(A),
    [R0, Before, Total =:= byte_size(Data), End, await(H)].

%% §6 "...and the peer never reads" row: queue unchanged since close began -> close returns
%% after ~5 s; the queued bytes are still delivered afterwards (the 180 s variant is not run)
close_pending_output_peer_never_reads() ->
    {_L, C, A} = pair(?SMALL_L, ?SMALL_C ++ [{high_watermark, 64 * ?MB}]),
    Sent0 = fill_kernel(C),
    ok = gen_tcp:send(C, bytes(100000)),
    T0 = erlang:monotonic_time(millisecond),
    R = gen_tcp:close(C),
    Took = erlang:monotonic_time(millisecond) - T0,
    {Total, End} = drain(A),
    [R, Took >= 4900, Took < 10000, Total =:= Sent0 + 100000, End].

%% §6 no_accept_listen_closed_*: un-accepted clients get RST: passive recv closed
no_accept_listen_closed_passive() ->
    L = listen([]),
    C = connect(L, []),
    R1 = gen_tcp:send(C, <<"x">>), sl(),
    ok = gen_tcp:close(L), sl(),
    [R1, gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)].

%% §6 no_accept_listen_closed_*: active -> tcp_closed
no_accept_listen_closed_active() ->
    L = listen([]),
    _C = connect(L, [{active, true}]),
    sl(),
    ok = gen_tcp:close(L), sl(),
    [msgs()].

%% §6 no_accept_listen_closed_*: active+show -> tcp_error econnreset, tcp_closed
no_accept_listen_closed_active_show() ->
    L = listen([]),
    _C = connect(L, [{active, true}, {show_econnreset, true}]),
    sl(),
    ok = gen_tcp:close(L), sl(),
    [msgs()].

%% ===================================================================================
%% §7 Packet framing
%% ===================================================================================

%% §7 send_empty_raw: send(<<>>)/send([]) ok, nothing sent
send_empty_raw() ->
    {_L, C, A} = pair(),
    R = [gen_tcp:send(C, <<>>), gen_tcp:send(C, []), gen_tcp:send(C, [[], <<>>])],
    sl(),
    R1 = gen_tcp:recv(A, 0, 100),
    ok = gen_tcp:send(C, <<"ab">>), sl(),
    R ++ [R1, gen_tcp:recv(A, 0, 500)].

%% §7 packet_wire_headers: big-endian length header of 1/2/4 bytes
packet_wire_headers() ->
    {_L, C, A} = pair(),
    [begin
         ok = inet:setopts(C, [{packet, P}]),
         ok = gen_tcp:send(C, <<"abc">>), sl(),
         gen_tcp:recv(A, 0, 500)
     end || P <- [1, 2, 4, raw, 0]].

%% §7 packet_empty_payload: bare header on the wire; <<>>/[] on receive
packet_empty_payload() ->
    {_L, C, A} = pair([{packet, 2}], [{packet, 2}]),
    ok = gen_tcp:send(C, <<>>), sl(),
    R1 = gen_tcp:recv(A, 0, 500),
    ok = inet:setopts(A, [list]),
    ok = gen_tcp:send(C, []), sl(),
    R2 = gen_tcp:recv(A, 0, 500),
    ok = inet:setopts(A, [{packet, raw}]),
    ok = gen_tcp:send(C, <<>>), sl(),
    [R1, R2, gen_tcp:recv(A, 0, 500)].

%% §7 packet1_parse: several packets in one read
packet1_parse() ->
    {_L, C, A} = pair([], [{packet, 1}]),
    ok = gen_tcp:send(A, <<2, "ab", 1, "c", 0, 3, "def">>), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 100)].

%% §7 packet1_oversize_send: ok, header = length mod 256
packet1_oversize_send() ->
    {_L, C, A} = pair(),
    ok = inet:setopts(C, [{packet, 1}]),
    R = gen_tcp:send(C, bytes(300)),
    {ok, <<H>>} = gen_tcp:recv(A, 1, 500),
    {ok, Rest} = gen_tcp:recv(A, 300, 500),
    [R, H, byte_size(Rest), gen_tcp:recv(A, 0, 100)].

%% §7 packet2_oversize_send: ok, header = length mod 65536
packet2_oversize_send() ->
    {_L, C, A} = pair(),
    ok = inet:setopts(C, [{packet, 2}]),
    R = gen_tcp:send(C, bytes(65536 + 10)),
    {ok, <<H:16>>} = gen_tcp:recv(A, 2, 500),
    {ok, Rest} = gen_tcp:recv(A, 65536 + 10, 1000),
    [R, H, byte_size(Rest), gen_tcp:recv(A, 0, 100)].

%% §7 packet_size_exceeded_*: passive: earlier packet, emsgsize, then enotconn
packet_size_exceeded_passive() ->
    {_L, C, A} = pair([], [{packet, 2}, {packet_size, 10}]),
    ok = gen_tcp:send(A, <<0, 2, "ok">>), sl(),
    ok = gen_tcp:send(A, <<0, 11, (bytes(11))/binary>>), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:send(C, <<"x">>)].

%% §7 packet_size_exceeded_*: active: packets, tcp_error emsgsize, tcp_closed
packet_size_exceeded_active() ->
    {_L, _C, A} = pair([], [{packet, 2}, {packet_size, 10}, {active, true}]),
    ok = gen_tcp:send(A, <<0, 2, "ok">>),
    M1 = next(),   % the good packet must be consumed in its own read (see _same_read)
    ok = gen_tcp:send(A, <<0, 11, (bytes(11))/binary>>), sl(),
    [[M1 | msgs()]].

%% §7 packet_size_exceeded_active_same_read: error reported only when more bytes arrive
packet_size_exceeded_active_same_read() ->
    {_L, C, A} = pair([], [{packet, 2}, {packet_size, 10}]),
    ok = gen_tcp:send(A, <<0, 2, "ok", 0, 11>>), sl(),
    ok = inet:setopts(C, [{active, true}]),
    R1 = msgs(),
    ok = gen_tcp:send(A, bytes(11)), sl(),
    [R1, msgs()].

%% §7 packet2_packet_size_boundary: a length equal to packet_size is fine
packet2_packet_size_boundary() ->
    {_L, C, A} = pair([], [{packet, 2}, {packet_size, 10}]),
    ok = gen_tcp:send(A, <<0, 10, "0123456789">>), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 100)].

%% §7 packet2_partial_then_peer_close: passive closed, partial discarded
packet2_partial_then_peer_close() ->
    {_L, C, A} = pair([], [{packet, 2}]),
    ok = gen_tcp:send(A, <<0, 5, "ab">>),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)].

%% §7 packet2_partial_then_peer_close: active tcp_closed only
packet2_partial_then_peer_close_active() ->
    {_L, _C, A} = pair([], [{packet, 2}, {active, true}]),
    ok = gen_tcp:send(A, <<0, 1, "z", 0, 5, "ab">>),
    ok = gen_tcp:close(A), sl(),
    [msgs()].

%% §7 packet_line_*: one line per recv, delimiter kept, trailing partial discarded on close
packet_line_basic() ->
    {_L, C, A} = pair([], [{packet, line}]),
    ok = gen_tcp:send(A, <<"ab\ncd\r\n\nef">>),
    ok = gen_tcp:close(A), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)].

%% §7 packet_line_*: line_delimiter changes the char
packet_line_delimiter() ->
    {_L, C, A} = pair([], [list, {packet, line}, {line_delimiter, $;}]),
    ok = gen_tcp:send(A, <<"ab;cd\nef;g">>), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 100)].

%% §7 packet_line_*: line longer than buffer is split at buffer bytes (not an error)
packet_line_longer_than_buffer() ->
    {_L, C, A} = pair([], [{packet, line}, {buffer, 10}]),
    ok = gen_tcp:send(A, <<"0123456789abcdefghijklmnopqrstu\nxy\n">>), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 100)].

%% §7 packet_line_*: active, one message per line; partial line discarded at close
packet_line_active() ->
    {_L, _C, A} = pair([], [{packet, line}, {active, true}]),
    ok = gen_tcp:send(A, <<"l1\nl2\nl3">>), sl(),
    ok = gen_tcp:close(A),
    [msgs()].

%% §7 packet_line_packet_size: line longer than packet_size -> emsgsize, socket closed
packet_line_packet_size() ->
    {_L, C, A} = pair([], [{packet, line}, {packet_size, 5}]),
    ok = gen_tcp:send(A, <<"abc\nabcd\nabcdefgh\n">>), sl(),
    [gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500),
     gen_tcp:recv(C, 0, 500)].

%% §7 packet_switch_to_raw: takes effect on bytes not yet parsed
packet_switch_to_raw() ->
    {_L, C, A} = pair([], [{packet, 2}]),
    ok = gen_tcp:send(A, <<0, 2, "ab", "rawdata", 0, 1>>), sl(),
    R1 = gen_tcp:recv(C, 0, 500),
    ok = inet:setopts(C, [{packet, raw}]),
    [R1, gen_tcp:recv(C, 0, 500)].

%% §7 recv_raw_*: list mode
recv_raw_list() ->
    {_L, C, A} = pair([], [list]),
    ok = gen_tcp:send(A, <<"abc">>), sl(),
    [gen_tcp:recv(C, 0, 500)].

%% §7 recv_raw_*: binary mode
recv_raw_binary() ->
    {_L, C, A} = pair([], [binary]),
    ok = gen_tcp:send(A, "abc"), sl(),
    [gen_tcp:recv(C, 0, 500)].

%% §7 setopts_mode_atoms: {mode,M}, list, binary all accepted
setopts_mode_atoms() ->
    {_L, C, A} = pair(),
    F = fun(O) ->
                ok = inet:setopts(C, [O]),
                ok = gen_tcp:send(A, <<"ab">>), sl(),
                {O, opt(C, mode), gen_tcp:recv(C, 0, 500)}
        end,
    [F(O) || O <- [{mode, list}, binary, list, {mode, binary}]].

%% ===================================================================================
%% §8 Listen, accept, backlog
%% ===================================================================================

%% §8 backlog_*: N+1 connects succeed while nobody accepts; then connect times out (300 ms)
backlog(N) ->
    Opts = case N of default -> []; _ -> [{backlog, N}] end,
    L = listen(Opts),
    P = port(L),
    Count = case N of default -> 5; _ -> N end,
    [reg_ok(gen_tcp:connect(?IP, P, [], 300), s) || _ <- lists:seq(1, Count + 3)].

%% §8 backlog_0
backlog_0() -> backlog(0).
%% §8 backlog_1
backlog_1() -> backlog(1).
%% §8 backlog_2
backlog_2() -> backlog(2).
%% §8 backlog_5
backlog_5() -> backlog(5).
%% §8 backlog_* / §2 backlog default 5
backlog_default() -> backlog(default).

%% §8 backlog_full_then_accept: full queue -> connect hangs; accept frees a slot -> it succeeds
backlog_full_then_accept() ->
    L = listen([{backlog, 0}]),
    P = port(L),
    R1 = reg_ok(gen_tcp:connect(?IP, P, [], 1000), c),
    H = async(fun() -> gen_tcp:connect(?IP, P, [], 4000) end),
    sl(300),
    Hung = done_yet(H),
    R2 = reg_ok(gen_tcp:accept(L, 1000), a),
    R3 = reg_ok(await(H), s),
    R4 = reg_ok(gen_tcp:accept(L, 1000), a),
    [R1, Hung, R2, R3, R4].

%% §8 accept_caller_becomes_owner: the accepting process owns A, not L's owner
accept_caller_becomes_owner() ->
    L = listen([]),
    Self = self(),
    H = spawn_link(fun() ->
                           {ok, A} = gen_tcp:accept(L, 2000),
                           Self ! {acc, self(), A},
                           receive stop -> ok end
                   end),
    _C = connect(L, []),
    A = receive {acc, H, A0} -> reg(A0, a) end,
    {connected, Owner} = erlang:port_info(A, connected),
    [Owner =:= H, gen_tcp:controlling_process(A, self())].

%% §8 accept_two_acceptors: several processes may block in accept on one L
accept_two_acceptors() ->
    L = listen([]),
    H1 = async(fun() -> gen_tcp:accept(L, 2000) end),
    H2 = async(fun() -> gen_tcp:accept(L, 2000) end),
    sl(),
    _C1 = connect(L, [], c),
    _C2 = connect(L, [], c),
    [element(1, await(H1)), element(1, await(H2))].

%% §8 listen_reuseaddr_timewait: re-listen over TIME_WAIT works only if old and new had reuseaddr
listen_reuseaddr_timewait() ->
    [{Old, New, tw(Old, New)} || Old <- [true, false], New <- [true, false]].

tw(Old, New) ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, ?IP}, {reuseaddr, Old}]),
    P = port(L),
    {ok, C} = gen_tcp:connect(?IP, P, [binary, {active, false}], 1000),
    {ok, A} = gen_tcp:accept(L, 1000),
    ok = gen_tcp:close(A),            % server side closes first -> TIME_WAIT on port P
    {error, closed} = gen_tcp:recv(C, 0, 1000),
    ok = gen_tcp:close(C),
    ok = gen_tcp:close(L),
    sl(),
    R = gen_tcp:listen(P, [{ip, ?IP}, {reuseaddr, New}]),
    case R of {ok, L2} -> gen_tcp:close(L2), ok; _ -> R end.

%% ===================================================================================
%% §9 Ownership, controlling_process
%% ===================================================================================

%% §9 owner_exit_closes_socket: normal exit closes; peer tcp_closed; handle closed/einval
owner_exit_closes_socket() ->
    {_L, C, A} = pair([], [{active, true}]),
    H = spawn(fun() -> receive go -> ok end end),
    ok = gen_tcp:controlling_process(A, H),
    H ! go, sl(100),
    [msgs(), gen_tcp:send(A, <<"x">>), inet:getopts(A, [active]), gen_tcp:recv(A, 0, 100),
     gen_tcp:close(A), gen_tcp:send(C, <<"x">>)].

%% §9 owner_exit_closes_socket: abnormal exit too
owner_crash_closes_socket() ->
    {_L, _C, A} = pair([], [{active, true}]),
    H = spawn(fun() -> receive go -> ok end end),
    ok = gen_tcp:controlling_process(A, H),
    exit(H, kill), sl(100),
    [msgs(), gen_tcp:send(A, <<"x">>), inet:getopts(A, [active])].

%% §9 non_owner_send_close: non-owners may send and close
non_owner_send_close() ->
    {_L, C, A} = pair(),
    H = async(fun() -> R1 = gen_tcp:send(A, <<"x">>), sl(), R2 = gen_tcp:close(A), [R1, R2] end),
    [await(H), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)].

%% §9 cp_moves_mailbox: data messages re-sent to the new owner in order; active restored
cp_moves_mailbox() ->
    {_L, C, A} = pair([], [{active, true}]),
    ok = gen_tcp:send(A, <<"a">>), wait_mailbox(1),
    ok = gen_tcp:send(A, <<"b">>), wait_mailbox(2),
    H = collector(),
    R = gen_tcp:controlling_process(C, H),
    Left = msgs(),
    ok = gen_tcp:send(A, <<"c">>), sl(),
    [R, Left, collect(H), opt(C, active)].

%% §9 cp_active_n_preserved: the N count is restored after the transfer
cp_active_n_preserved() ->
    {_L, C, A} = pair([], [{active, 5}]),
    ok = gen_tcp:send(A, <<"a">>), wait_mailbox(1),
    ok = gen_tcp:send(A, <<"b">>), wait_mailbox(2),
    H = collector(),
    R = gen_tcp:controlling_process(C, H),
    [R, opt(C, active), mailbox(), collect(H)].

%% §9 cp_leaves_tcp_passive: tcp_passive stays with the old owner
cp_leaves_tcp_passive() ->
    {_L, C, A} = pair([], [{active, 1}]),
    ok = gen_tcp:send(A, <<"a">>), wait_mailbox(2),
    H = collector(),
    R = gen_tcp:controlling_process(C, H),
    [R, msgs(), collect(H), opt(C, active)].

%% §9 cp_leaves_tcp_error: tcp_error stays with the old owner (eoc=false so cp still works)
cp_leaves_tcp_error() ->
    {_L, C, A} = pair([{linger, {true, 0}}],
                      [{active, true}, {show_econnreset, true}, {exit_on_close, false}]),
    ok = gen_tcp:send(A, <<"a">>), wait_mailbox(1),
    ok = gen_tcp:close(A), wait_mailbox(3),
    H = collector(),
    R = gen_tcp:controlling_process(C, H),
    [R, msgs(), collect(H)].

%% §9 cp_after_close_messages_stay: socket already closed (eoc) -> closed, messages stay
cp_after_close_messages_stay() ->
    {_L, C, A} = pair([], [{active, true}]),
    ok = gen_tcp:send(A, <<"ab">>), wait_mailbox(1),
    ok = gen_tcp:close(A), wait_mailbox(2),
    H = collector(),
    R = gen_tcp:controlling_process(C, H),
    [R, msgs(), collect(H)].

%% §9 cp_eoc_false_closed_in_mailbox: tcp_closed moved -> ok, but the port is not re-owned
cp_eoc_false_closed_in_mailbox() ->
    {_L, C, A} = pair([], [{active, true}, {exit_on_close, false}]),
    ok = gen_tcp:close(A), wait_mailbox(1),
    H = collector(),
    R = gen_tcp:controlling_process(C, H),
    {connected, Owner} = erlang:port_info(C, connected),
    [R, msgs(), collect(H), Owner =:= self(), Owner =:= H].

%% §9 cp_* / §1 controlling_process row: non-owner -> not_owner
cp_not_owner() ->
    {_L, C, _A} = pair(),
    H2 = collector(),
    H = async(fun() -> gen_tcp:controlling_process(C, H2) end),
    [await(H)].

%% §9 cp_not_owner_to_current_owner: non-owner naming the current owner -> ok
cp_not_owner_to_current_owner() ->
    {_L, C, _A} = pair(),
    Self = self(),
    H = async(fun() -> gen_tcp:controlling_process(C, Self) end),
    {connected, Owner} = erlang:port_info(C, connected),
    [await(H), Owner =:= self()].

%% §9 cp_dead_pid: {error,badarg}, an active socket is left {active,false}
cp_dead_pid() ->
    {_L, C, _A} = pair([], [{active, true}]),
    {Dead, Ref} = spawn_monitor(fun() -> ok end),
    receive {'DOWN', Ref, _, _, _} -> ok end,
    [gen_tcp:controlling_process(C, Dead), opt(C, active)].

%% §1 controlling_process row: closed -> {error,closed}
cp_closed() ->
    {_L, C, _A} = pair(),
    H = collector(),
    ok = gen_tcp:close(C),
    [gen_tcp:controlling_process(C, H)].

%% §1 controlling_process row: non-pid -> error function_clause
cp_non_pid() ->
    {_L, C, _A} = pair(),
    [x(fun() -> gen_tcp:controlling_process(C, foo) end)].

%% ===================================================================================
%% §10 Flow control and send timeouts
%% ===================================================================================

%% 1-byte sends from a helper until it blocks; returns {MaxPendAfterOkSend, PendWhileBlocked}.
pend_probe(COpts) ->
    {_L, C, _A} = pair(?SMALL_L, ?SMALL_C ++ COpts),
    Max = atomics:new(1, []),
    HW = opt(C, high_watermark),
    Sender = spawn_link(fun() -> fill_kernel(C), pend_loop(C, HW, Max, 5000000) end),
    Blocked = wait_blocked(Sender, C, -1, 0, 200),
    [{max_ok_send_pend, atomics:get(Max, 1)}, {blocked_send_pend, Blocked}].

%% After fill_kernel: 1000-byte sends while send_pend is far below the high watermark (only to keep
%% the run fast); phase 2: 1-byte sends, send_pend sampled after every ok send.
pend_loop(C, HW, Max, N) -> pend_loop(C, HW, Max, N, 0).
pend_loop(_C, _HW, _Max, 0, _Last) -> ok;
pend_loop(C, HW, Max, N, Last) ->
    Data = case Last < HW - 2000 of
               true -> bytes(1000);
               false -> <<"x">>
           end,
    ok = gen_tcp:send(C, Data),
    {ok, [{send_pend, P}]} = inet:getstat(C, [send_pend]),
    case byte_size(Data) =:= 1 andalso P > atomics:get(Max, 1) of
        true -> atomics:put(Max, 1, P);
        false -> ok
    end,
    pend_loop(C, HW, Max, N - 1, P).

wait_blocked(_Sender, _C, _Last, _Stable, 0) -> gave_up;
wait_blocked(Sender, C, Last, Stable, Tries) ->
    sl(50),
    {ok, [{send_pend, P}]} = inet:getstat(C, [send_pend]),
    {status, St} = process_info(Sender, status),
    case P =:= Last andalso St =:= waiting of
        true when Stable >= 3 -> P;
        true -> wait_blocked(Sender, C, P, Stable + 1, Tries - 1);
        false -> wait_blocked(Sender, C, P, 0, Tries - 1)
    end.

%% §10 send_pend_reaches_high_watermark: ok sends leave <= 8191 queued; the one reaching 8192 blocks
send_pend_reaches_high_watermark() -> pend_probe([]).

%% §10 send_pend_reaches_high_watermark: with {high_watermark,100000}
send_pend_reaches_high_watermark_100000() -> pend_probe([{high_watermark, 100000}]).

%% §10 send_blocks_without_timeout: no send_timeout => the blocked send stays blocked
send_blocks_without_timeout() ->
    {_L, C, _A} = pair(?SMALL_L, ?SMALL_C),
    H = async(fun() -> send_until_error(C, bytes(1000), 100000) end),
    sl(700),
    [done_yet(H)].

%% §10 prose: while the port is busy, other senders are suspended too; all complete once the
%% peer reads
send_busy_suspends_other_senders() ->
    {_L, C, A} = pair(?SMALL_L, ?SMALL_C),
    H1 = async(fun() -> send_until_error(C, bytes(1000), 100000) end),
    sl(300),
    H2 = async(fun() -> gen_tcp:send(C, <<"second">>) end),
    sl(300),
    R = [done_yet(H1), done_yet(H2)],
    _ = async(fun() -> drain(A) end),
    %% H1 keeps sending once unblocked; stop it by closing C after H2 has completed
    R2 = await(H2, 3000),
    R ++ [R2].

%% §10 send_timeout_fires: blocked send -> {error,timeout} after T; data stays queued and
%% is delivered later; the next send times out again
send_timeout_fires() ->
    Chunk = bytes(1000),
    {_L, C, A} = pair(?SMALL_L, ?SMALL_C ++ [{send_timeout, 200}]),
    Sent0 = fill_kernel(C),
    {Oks, Err1} = send_until_error(C, Chunk, 100000),
    T0 = erlang:monotonic_time(millisecond),
    Err2 = gen_tcp:send(C, Chunk),
    Waited = erlang:monotonic_time(millisecond) - T0,
    Expected = Sent0 + (Oks + 2) * byte_size(Chunk),
    {Total, End} = drain_n(A, Expected),
    [Oks > 0, Err1, Err2, Waited >= 190, Total =:= Expected, End,
     inet:getopts(C, [send_timeout]), gen_tcp:send(C, Chunk)].

drain_n(S, N) -> drain_n(S, N, 0).
drain_n(S, N, Acc) when Acc >= N -> {Acc, gen_tcp:recv(S, 0, 100)};
drain_n(S, N, Acc) ->
    case gen_tcp:recv(S, 0, 1000) of
        {ok, D} -> drain_n(S, N, Acc + iolist_size(D));
        Other -> {Acc, Other}
    end.

%% §10 send_timeout_close: after the timeout the socket is closed underneath: enotconn,
%% getopts still work, close ok; the driver queue is dropped
send_timeout_close() ->
    Chunk = bytes(1000),
    {_L, C, A} = pair(?SMALL_L, ?SMALL_C ++ [{send_timeout, 200}, {send_timeout_close, true}]),
    Sent0 = fill_kernel(C),
    {Oks, Err1} = send_until_error(C, Chunk, 100000),
    R = [Oks > 0, Err1, gen_tcp:send(C, Chunk), gen_tcp:recv(C, 0, 100),
         inet:getopts(C, [send_timeout, send_timeout_close])],
    {Total, End} = drain(A),
    R ++ [gen_tcp:close(C), Total < Sent0 + Oks * byte_size(Chunk), End].

%% §10 send_timeout_close_active: no tcp_closed message in active mode
send_timeout_close_active() ->
    Chunk = bytes(1000),
    {_L, C, _A} = pair(?SMALL_L, ?SMALL_C ++ [{send_timeout, 200}, {send_timeout_close, true},
                                             {active, true}]),
    _ = fill_kernel(C),
    {Oks, Err1} = send_until_error(C, Chunk, 100000),
    sl(),
    [Oks > 0, Err1, msgs(), gen_tcp:send(C, Chunk), msgs()].

%% ===================================================================================
%% §11 getstat
%% ===================================================================================

-define(STATKEYS, [recv_oct, recv_cnt, recv_max, recv_avg, send_oct, send_cnt, send_max,
                   send_avg, send_pend]).

%% §11 getstat_packet_counts: {packet,2} "hello"+"abc": send_oct 12, cnt 2, max 7, avg 6
getstat_packet_counts() ->
    {_L, C, A} = pair([{packet, 2}], [{packet, 2}]),
    ok = gen_tcp:send(C, <<"hello">>),
    ok = gen_tcp:send(C, <<"abc">>), sl(),
    R1 = gen_tcp:recv(A, 0, 500),
    R2 = gen_tcp:recv(A, 0, 500),
    [R1, R2, inet:getstat(C, ?STATKEYS), inet:getstat(A, ?STATKEYS)].

%% §11 getstat_raw_counts: raw "hello" read as recv(2)+recv(0): recv_oct 5, cnt 2, max 3, avg 2
getstat_raw_counts() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:send(A, <<"hello">>), sl(),
    R1 = gen_tcp:recv(C, 2, 500),
    R2 = gen_tcp:recv(C, 0, 500),
    [R1, R2, inet:getstat(C, ?STATKEYS), inet:getstat(A, ?STATKEYS)].

%% ===================================================================================
%% Issue 20: differences an outside check found, and their neighbours
%% ===================================================================================

%% What the driver answers once it has closed the socket's file descriptor: sockname and
%% port ebadf, peername enotconn; getopts, setopts and getstat still answer from the port.
%% Addresses are shown as ok (erl's are 127.0.0.1, gentcp's 10.0.0.x).
fd_ops(S) ->
    [ok_shape(inet:sockname(S)), ok_shape(inet:peername(S)), ok_shape(inet:port(S)),
     inet:getopts(S, [active, exit_on_close]), inet:setopts(S, [{active, false}]),
     inet:getstat(S, [recv_oct, send_oct])].

ok_shape({ok, _}) -> ok;
ok_shape(R) -> R.

%% §5 tcp_passive at open: the last active option decides, and a count of 0 or below sends
%% {tcp_passive,S} at once, from listen and connect, even when the call then fails (the
%% message names a port that is gone); accept sends none for what it inherits
active_n_zero_at_open() ->
    L = listen([{active, 0}]),
    R1 = {opt(L, active), msgs(50)},
    {ok, L2} = gen_tcp:listen(0, [binary, {ip, ?IP}, {active, 2}, {active, -1}]),
    reg(L2, l2),
    R2 = {opt(L2, active), msgs(50)},
    {ok, L3} = gen_tcp:listen(0, [binary, {ip, ?IP}, {active, 0}, {active, 2}]),
    reg(L3, l3),
    R3 = {opt(L3, active), msgs(50)},
    C = connect(L, [{active, 0}]),
    R4 = {opt(C, active), msgs(50)},
    A = accept(L),
    R5 = {opt(A, active), msgs(50)},
    C2 = connect(L, [{active, 1}, {active, 0}], s),
    R6 = {opt(C2, active), msgs(50)},
    C3 = connect(L, [{active, 0}, {active, false}], s),
    R7 = {opt(C3, active), msgs(50)},
    {ok, L4} = gen_tcp:listen(0, [{ip, ?IP}]),
    P4 = port(L4),
    ok = gen_tcp:close(L4),
    R8 = {gen_tcp:connect(?IP, P4, [{active, 0}], 1000), msgs(50)},
    R9 = {gen_tcp:listen(port(L), [{ip, ?IP}, {active, -5}]), msgs(50)},
    [R1, R2, R3, R4, R5, R6, R7, R8, R9].

%% §5 setopts: the list is applied right to left, and each {active,N} that leaves the count
%% at 0 or below sends tcp_passive, even when an earlier entry activates the socket again
setopts_active_entries_each_passive() ->
    {_L, C, _A} = pair(),
    S = fun(V) -> R = inet:setopts(C, V), {V, R, opt(C, active), msgs(50)} end,
    [S([{active, 0}, {active, 0}]), S([{active, true}, {active, 0}]),
     S([{active, 0}, {active, true}]), S([{active, 2}, {active, -1}]),
     S([{active, -1}, {active, 2}]), S([{active, false}]), S([{active, -1}, {active, -1}]),
     S([{active, 3}, {active, 3}])].

%% §6 send after shutdown(write) is a failed send: closed, and with exit_on_close the driver
%% closes the socket: the unread data is gone (the close resets the peer), recv says closed,
%% then enotconn
shutdown_write_send_closes_socket() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:shutdown(C, write),
    ok = gen_tcp:send(A, <<"early">>), sl(),
    R1 = gen_tcp:send(C, <<"x">>), sl(),
    R2 = gen_tcp:send(A, <<"late">>), sl(),
    [R1, R2, gen_tcp:recv(C, 0, 200), gen_tcp:recv(C, 0, 200), gen_tcp:send(C, <<"x">>),
     gen_tcp:shutdown(C, read) | fd_ops(C)].

%% §6 the same with {exit_on_close,false}: the send fails the same way and the fd is closed
shutdown_write_send_eoc_false() ->
    {_L, C, A} = pair([], [{exit_on_close, false}]),
    ok = gen_tcp:shutdown(C, write),
    R1 = gen_tcp:send(C, <<"x">>),
    ok = gen_tcp:send(A, <<"late">>), sl(),
    [R1, gen_tcp:recv(C, 0, 200), gen_tcp:recv(C, 0, 200), gen_tcp:send(C, <<"x">>),
     gen_tcp:shutdown(C, read) | fd_ops(C)].

%% §6 the same on an active socket: tcp_closed, then the handle is gone (einval)
shutdown_write_send_active() ->
    {_L, C, _A} = pair([], [{active, true}]),
    ok = gen_tcp:shutdown(C, write),
    R1 = gen_tcp:send(C, <<"x">>), sl(),
    [R1, msgs(), gen_tcp:recv(C, 0, 100), gen_tcp:send(C, <<"x">>) | fd_ops(C)].

%% §6 after a failed send with {exit_on_close,false} the driver has closed the fd
eoc_false_failed_send_fd_closed() ->
    {_L, C, A} = pair([], [{exit_on_close, false}]),
    R0 = fd_ops(C),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:send(C, <<"x">>), sl(),
    R2 = gen_tcp:send(C, <<"x">>), sl(),
    [R0, R1, R2, fd_ops(C), gen_tcp:recv(C, 0, 100), gen_tcp:send(C, <<"x">>),
     gen_tcp:shutdown(C, read)].

%% §6 the same when the peer reset: the failed send says closed, the fd is closed
eoc_false_reset_send_fd_closed() ->
    {_L, C, A} = pair([], [{exit_on_close, false}]),
    ok = inet:setopts(A, [{linger, {true, 0}}]),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:send(C, <<"x">>), sl(),
    [R1, fd_ops(C), gen_tcp:send(C, <<"x">>), gen_tcp:recv(C, 0, 100)].

%% §6 neighbour: {exit_on_close,false} and recv has reported closed, but no send failed:
%% the fd is still open
eoc_false_recv_closed_fd_open() ->
    {_L, C, A} = pair([], [{exit_on_close, false}]),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:recv(C, 0, 500),
    [R1 | fd_ops(C)].

%% §6 neighbour: exit_on_close true, passive recv reports closed: the driver closes the fd
eoc_recv_closed_fd_closed() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:recv(C, 0, 500),
    [R1, gen_tcp:recv(C, 0, 100), gen_tcp:send(C, <<"x">>) | fd_ops(C)].

%% §6 neighbour: exit_on_close true, the second send after the peer closed fails
eoc_failed_send_fd_closed() ->
    {_L, C, A} = pair(),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:send(C, <<"x">>), sl(),
    R2 = gen_tcp:send(C, <<"x">>), sl(),
    [R1, R2, gen_tcp:recv(C, 0, 100), gen_tcp:send(C, <<"x">>) | fd_ops(C)].

fd_names(S) -> [ok_shape(inet:sockname(S)), ok_shape(inet:peername(S)), ok_shape(inet:port(S))].

%% §7 neighbour: a packet above packet_size closes the fd too
fd_closed_after_packet_size() ->
    {_L, C, A} = pair([], [{packet, 2}, {packet_size, 10}]),
    ok = gen_tcp:send(A, <<0, 20, (bytes(20))/binary>>), sl(),
    [gen_tcp:recv(C, 0, 100), gen_tcp:recv(C, 0, 100), gen_tcp:send(C, <<"x">>) | fd_ops(C)].

%% §10 neighbour: send_timeout_close closes the fd
fd_closed_after_send_timeout_close() ->
    {_L, C, _A} = pair(?SMALL_L, ?SMALL_C ++ [{send_timeout, 200}, {send_timeout_close, true}]),
    fill_kernel(C),
    {Oks, Err} = send_until_error(C, bytes(1000), 100000),
    [Oks > 0, Err | fd_names(C)].

%% §6 neighbour: a failed background send closes the fd
fd_closed_after_bg_send_reset() ->
    {C, Queued} = bg_send_reset_setup([]),
    [Queued | fd_names(C)] ++ [gen_tcp:recv(C, 0, 500), gen_tcp:send(C, <<"x">>)].

%% §6 {exit_on_close,false} with show_econnreset, the peer reset: the failed send says
%% econnreset, the next send enotconn, the next recv econnreset once
eoc_false_show_reset_send() ->
    {_L, C, A} = pair([], [{show_econnreset, true}, {exit_on_close, false}]),
    ok = inet:setopts(A, [{linger, {true, 0}}]),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:send(C, <<"x">>),
    [R1, gen_tcp:send(C, <<"x">>), gen_tcp:recv(C, 0, 100), gen_tcp:recv(C, 0, 100),
     gen_tcp:send(C, <<"x">>) | fd_names(C)].

%% §6 the same with the reset seen by recv first: it stays writable until the send fails
eoc_false_show_reset_recv_then_send() ->
    {_L, C, A} = pair([], [{show_econnreset, true}, {exit_on_close, false}]),
    ok = inet:setopts(A, [{linger, {true, 0}}]),
    ok = gen_tcp:close(A), sl(),
    R1 = gen_tcp:recv(C, 0, 100),
    [R1, gen_tcp:send(C, <<"x">>), gen_tcp:send(C, <<"x">>), gen_tcp:recv(C, 0, 100),
     gen_tcp:recv(C, 0, 100), gen_tcp:send(C, <<"x">>) | fd_names(C)].

%% §6 {exit_on_close,false}, recv saw the FIN: the first send is ok, the one that fails says
%% closed (econnreset with show_econnreset), the next send the same once, then enotconn
eoc_false_fin_seen_send_fails() ->
    [eoc_false_fin_seen_send_fails(Extra) || Extra <- [[], [{show_econnreset, true}]]].

eoc_false_fin_seen_send_fails(Extra) ->
    {_L, C, A} = pair([], [{exit_on_close, false} | Extra]),
    ok = gen_tcp:close(A), sl(),
    R0 = gen_tcp:recv(C, 0, 100),
    R1 = gen_tcp:send(C, <<"x">>), sl(),
    [R0, R1, gen_tcp:send(C, <<"x">>), gen_tcp:send(C, <<"x">>), gen_tcp:send(C, <<"x">>),
     gen_tcp:recv(C, 0, 100), gen_tcp:recv(C, 0, 100), gen_tcp:send(C, <<"x">>) | fd_names(C)].

%% §11 recv_avg and recv_dvi as inet_drv keeps them: avg += (len - avg) / n, then
%% dvi += ((len - avg) - dvi) / n with the new avg, reported as abs(trunc); send_dvi is
%% not a key in OTP 25 (einval). Sizes are payloads; {packet,2} adds 2 to each.
getstat_dvi() ->
    [getstat_dvi(Sizes) || Sizes <- [[7, 5], [5, 7], [100, 1, 1, 1, 1], [1, 1, 1, 1, 100],
                                     [10, 20, 30, 40], [3, 1000, 3, 1000, 3, 1000]]].

getstat_dvi(Sizes) ->
    {_L, C, A} = pair([{packet, 2}], [{packet, 2}]),
    [begin ok = gen_tcp:send(C, bytes(N)), {ok, _} = gen_tcp:recv(A, 0, 1000) end || N <- Sizes],
    {inet:getstat(A, [recv_cnt, recv_max, recv_avg, recv_dvi]),
     inet:getstat(C, [send_cnt, send_max, send_avg]), inet:getstat(C, [send_dvi]),
     inet:getstat(A)}.

%% §1 connect to a name that does not resolve: nxdomain, before the options and the port
%% are looked at (no tcp_passive: no port was made), also for a dotted quad out of range;
%% a name that is empty or has a byte outside 33..126 is badarg; listen's
%% {ip,Name} and {ifaddr,Name} never resolve a name (badarg)
connect_nxdomain() ->
    [gen_tcp:connect("nosuchhost.invalid", 80, [], 1000),
     gen_tcp:connect(nosuchhost, 80, [], 1000),
     gen_tcp:connect("nosuchhost.invalid", 80, [{active, 0}], 1000), msgs(50),
     gen_tcp:connect("nosuchhost.invalid", 80, [{foo, bar}], 1000),
     gen_tcp:connect("nosuchhost.invalid", 65536, [], 1000),
     gen_tcp:connect("nosuchhost.invalid", 80, [inet6], 1000),
     gen_tcp:connect("127.0.0.256", 80, [], 1000),
     x(fun() -> gen_tcp:connect("", 80, [], 1000) end),
     x(fun() -> gen_tcp:connect("bad name", 80, [], 1000) end),
     x(fun() -> gen_tcp:connect("nosuchhost.invalid", 80, [], -1) end),
     x(fun() -> gen_tcp:listen(0, [{ip, "localhost"}]) end),
     x(fun() -> gen_tcp:listen(0, [{ifaddr, "localhost"}]) end),
     x(fun() -> gen_tcp:listen(0, [{ifaddr, "nosuchhost.invalid"}]) end)].

%% ===================================================================================
%% issue 20: the rest of {packet, Type}
%% ===================================================================================

%% Two whole packets and the start of a third, for each type framed by its own header.
protocol_wire() ->
    [{asn1, <<48,3,1,2,3, 16#1f,16#81,1,2,9,9, 48>>},
     {cdr, <<"GIOP",1,0,0,0,0,0,0,2,"ab", "GIOP",1,2,1,0,1,0,0,0,"c", "GI">>},
     {sunrm, <<128,0,0,2,"ab", 0,0,0,0, 0>>},
     {fcgi, <<1,1,0,1,0,2,3,0,"ab",0,0,0, 1,5,0,1,0,0,0,0, 1>>},
     {tpkt, <<3,0,0,6,"ab", 3,0,0,4, 3>>}].

%% A packet whose body is packet_size (4), then a header OTP refuses or one over it.
protocol_invalid() ->
    [{asn1, <<48,4,1,2,3,4>>, <<48,5,1,2,3,4,5>>},
     {cdr, <<"GIOP",1,0,0,0,0,0,0,4,"abcd">>, <<"GIOX",1,0,0,0,0,0,0,0>>},
     {sunrm, <<0,0,0,4,"abcd">>, <<0,0,0,5,"abcde">>},
     {fcgi, <<1,1,0,1,0,2,2,0,"ab",0,0>>, <<2,1,0,1,0,0,0,0>>},
     {tpkt, <<3,0,0,8,"abcd">>, <<3,0,0,3>>}].

%% issue 20 packet_protocol_passive: asn1, cdr, sunrm, fcgi, tpkt deliver each packet with
%% its header (fcgi without padding) and wait for the rest of a partial one; getopts names the type
packet_protocol_passive() ->
    [begin
         {L, C, A} = pair([], [{packet, T}]),
         ok = gen_tcp:send(A, W), sl(),
         R = {T, gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 100),
              inet:getopts(C, [packet])},
         gen_tcp:close(C), gen_tcp:close(A), gen_tcp:close(L),
         R
     end || {T, W} <- protocol_wire()].

%% issue 20 packet_protocol_active: the same in {active,true}, then the peer closes
packet_protocol_active() ->
    [begin
         {L, C, A} = pair([], [{packet, T}, {active, true}]),
         ok = gen_tcp:send(A, W), sl(),
         ok = gen_tcp:close(A),
         R = {T, msgs()},
         gen_tcp:close(C), gen_tcp:close(L),
         R
     end || {T, W} <- protocol_wire()].

%% issue 20 packet_protocol_invalid: packet_size bounds the body, a bad header is emsgsize
%% and the socket closes, as for {packet,2}
packet_protocol_invalid() ->
    [begin
         {L, C, A} = pair([], [{packet, T}, {packet_size, 4}]),
         ok = gen_tcp:send(A, Good), sl(),
         ok = gen_tcp:send(A, Bad), sl(),
         R = {T, gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500), gen_tcp:recv(C, 0, 500)},
         gen_tcp:close(C), gen_tcp:close(A), gen_tcp:close(L),
         R
     end || {T, Good, Bad} <- protocol_invalid()].

%% issue 20 packet_protocol_invalid_active: active: the packet, tcp_error emsgsize, tcp_closed
packet_protocol_invalid_active() ->
    [begin
         {L, C, A} = pair([], [{packet, T}, {packet_size, 4}, {active, true}]),
         ok = gen_tcp:send(A, Good),
         M1 = next(),
         ok = gen_tcp:send(A, Bad), sl(),
         R = {T, [M1 | msgs()]},
         gen_tcp:close(C), gen_tcp:close(A), gen_tcp:close(L),
         R
     end || {T, Good, Bad} <- protocol_invalid()].

-include("scenarios_http.hrl").
-include("scenarios_switch.hrl").
