%% Boots one node of the stand-in system (the installer writes these flags into an args file):
%%   erl -name N@ADDRESS -setcookie C -noinput -pa ROOT/lib/*/ebin -eval 'sys_boot:start()' \
%%       -system_root ROOT -system_role master|worker -system_apps core billing \
%%       [-system_domain w1@host1 w2@host2 | w1 w2] [-system_pidfile FILE] [-agent_portfile FILE] \
%%       [-agent_ip 0.0.0.0] [-agent_port 4370]
%% Writes its OS pid to the pidfile first (so whoever started it detached can stop it), starts the
%% applications and the patch agent's TCP listener (127.0.0.1 unless -agent_ip, e.g. 0.0.0.0 inside a
%% container whose port is published on the host's 127.0.0.1; port 0 unless -agent_port) and then writes
%% "Port Node\n" to the port file: its existence means the node is up. SIGTERM ends the node at once
%% (the OS default, not init:stop/0, which takes seconds here): what it keeps is on disk, written atomically.
-module(sys_boot).
-export([start/0, arg/1, args/1]).

start() ->
    ok = os:set_signal(sigterm, default),
    case init:get_argument(system_pidfile) of
        {ok, [[PidFile]]} -> ok = write_atomic(PidFile, [os:getpid(), $\n]);
        _ -> ok
    end,
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
        {ok, [[File]]} -> ok = write_atomic(File, io_lib:format("~b ~s~n", [Port, node()]));
        _ -> ok
    end,
    ok.

arg(Name) -> {ok, [[Value]]} = init:get_argument(Name), Value.

args(Name) ->
    case init:get_argument(Name) of
        {ok, Lists} -> lists:append(Lists);
        error -> []
    end.

write_atomic(File, Data) ->
    Tmp = File ++ ".tmp",
    ok = file:write_file(Tmp, Data),
    file:rename(Tmp, File).
