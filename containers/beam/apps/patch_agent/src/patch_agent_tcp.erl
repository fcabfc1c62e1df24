%% The agent's harness-facing listener: 127.0.0.1 (0.0.0.0 only inside a container, published on the
%% host's 127.0.0.1), {packet,4} frames, each request and each
%% reply one term in the external term format (binary_to_term with [safe]: no atoms are created).
%% Replies are {ok, Result} or {error, Text}.
-module(patch_agent_tcp).
-export([start/0, start/2, dispatch/1]).

start() -> start({127, 0, 0, 1}, 0).

start(Ip, ListenPort) ->
    Self = self(),
    Pid = spawn(fun() ->
                        {ok, L} = gen_tcp:listen(ListenPort, [binary, {packet, 4}, {active, false},
                                                              {ip, Ip}, {reuseaddr, true}]),
                        {ok, Port} = inet:port(L),
                        Self ! {self(), port, Port},
                        accept_loop(L)
                end),
    register(patch_agent_tcp, Pid),
    receive {Pid, port, Port} -> {ok, Port} after 5000 -> {error, timeout} end.

accept_loop(L) ->
    {ok, S} = gen_tcp:accept(L),
    Pid = spawn(fun() -> receive go -> serve(S) end end),
    ok = gen_tcp:controlling_process(S, Pid),
    Pid ! go,
    accept_loop(L).

serve(S) ->
    case gen_tcp:recv(S, 0) of
        {ok, Frame} ->
            Reply = try
                        {ok, dispatch(binary_to_term(Frame, [safe]))}
                    catch Class:Reason:Stack ->
                            {error, iolist_to_binary(io_lib:format("~p:~0P ~0P", [Class, Reason, 12, Stack, 12]))}
                    end,
            ok = gen_tcp:send(S, term_to_binary(Reply)),
            serve(S);
        {error, _} ->
            gen_tcp:close(S)
    end.

dispatch(info) -> patch_agent:info();
dispatch(state) -> patch_agent:state();
dispatch(bump) -> patch_agent:bump();
dispatch({check, Items}) -> patch_agent:check(Items);
dispatch({apply, Name, Items}) -> patch_agent:apply(Name, Items);
dispatch({md5s, Names}) -> patch_agent:md5s(Names);
dispatch(files) -> patch_agent:files();
dispatch({capture, Paths}) -> patch_agent:capture(Paths);
dispatch({restore, Images}) -> patch_agent:restore(Images);
dispatch({system_libraries, Names}) -> patch_agent:system_libraries(Names);
dispatch({domain, Request}) -> patch_agent:domain(Request).
