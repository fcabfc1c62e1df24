%% Boots one node of the stand-in system:
%%   erl -sname N -setcookie C -noinput -pa ROOT/lib/*/ebin -eval 'sys_boot:start()' \
%%       -system_root ROOT -system_role master|worker -system_apps core billing \
%%       [-system_domain w1 w2 | w1@host1 w2@host2] [-agent_portfile FILE] [-agent_ip 0.0.0.0]
%%       [-agent_port 4369]
%% Starts the applications, the patch agent's TCP listener (127.0.0.1 unless -agent_ip, e.g. 0.0.0.0
%% inside a container whose port is published on the host's 127.0.0.1; port 0 unless -agent_port) and writes
%% "Port Node\n" to the port file. The node halts when its stdin closes, so a node started as a
%% child process never outlives the harness that started it.
-module(sys_boot).
-export([start/0, arg/1, args/1]).

start() ->
    watch_stdin(),
    Root = arg(system_root),
    Role = list_to_atom(arg(system_role)),
    Apps = [list_to_atom(A) || A <- args(system_apps)],
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Domain = [list_to_atom(case lists:member($@, S) of true -> S; false -> S ++ "@" ++ Host end)
              || S <- args(system_domain)],
    persistent_term:put(patch_agent, #{root => Root, role => Role, apps => Apps, domain => Domain}),
    [{ok, _} = application:ensure_all_started(A) || A <- Apps],
    {ok, Ip} = inet:parse_address(case args(agent_ip) of [A] -> A; [] -> "127.0.0.1" end),
    ListenPort = case args(agent_port) of [P] -> list_to_integer(P); [] -> 0 end,
    {ok, Port} = patch_agent_tcp:start(Ip, ListenPort),
    persistent_term:put(patch_agent, (persistent_term:get(patch_agent))#{agent_port => Port}),
    case init:get_argument(agent_portfile) of
        {ok, [[File]]} ->
            Tmp = File ++ ".tmp",
            ok = file:write_file(Tmp, io_lib:format("~b ~s~n", [Port, node()])),
            ok = file:rename(Tmp, File);
        _ -> ok
    end,
    ok.

arg(Name) -> {ok, [[Value]]} = init:get_argument(Name), Value.

args(Name) ->
    case init:get_argument(Name) of
        {ok, Lists} -> lists:append(Lists);
        error -> []
    end.

watch_stdin() ->
    case init:get_argument(watch_stdin) of
        {ok, _} ->
            Pid = spawn(fun() ->
                                P = open_port({fd, 0, 1}, [eof, binary]),
                                stdin_loop(P)
                        end),
            register(sys_boot_watchdog, Pid);
        error -> ok
    end.

stdin_loop(P) ->
    receive
        {P, eof} -> erlang:halt(0);
        {P, {data, _}} -> stdin_loop(P)
    end.
