#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% The oracle of gentcp's TestDecodeHTTPAgainstErl: reads cases from the file
%% named by its argument, one a line, "Type PacketSize LineLength Hex", runs
%% erlang:decode_packet(Type, Bin, [{packet_size,PacketSize},{line_length,LineLength}])
%% on each and prints one line a case, in order:
%%   more | error | {ok,Packet,RestLength}
%% printed with ~w after every binary B is replaced by {bin,binary_to_list(B)}
%% (so lists and binaries print alike, [71,69,84], and cannot be confused).
-mode(compile).

main([File]) ->
    {ok, Data} = file:read_file(File),
    Lines = binary:split(Data, <<"\n">>, [global, trim_all]),
    lists:foreach(fun one/1, Lines).

one(Line) ->
    [T, P, L, H] = binary:split(Line, <<" ">>, [global]),
    Bin = binary:decode_hex(H),
    Opts = [{packet_size, binary_to_integer(P)}, {line_length, binary_to_integer(L)}],
    R = case erlang:decode_packet(binary_to_atom(T), Bin, Opts) of
            {more, _} -> more;
            {error, _} -> error;
            {ok, Pkt, Rest} -> {ok, norm(Pkt), byte_size(Rest)}
        end,
    io:format("~w~n", [R]).

norm(B) when is_binary(B) -> {bin, binary_to_list(B)};
norm(T) when is_tuple(T) -> list_to_tuple([norm(E) || E <- tuple_to_list(T)]);
norm(X) -> X.
