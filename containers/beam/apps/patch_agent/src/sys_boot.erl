%% Boots one node of the stand-in system (the installer writes these flags into an args file):
%%   erl -name N@ADDRESS -setcookie C -noinput -pa ROOT/lib/*/ebin -eval 'sys_boot:start()' \
%%       -system_root ROOT -system_role master|worker -system_apps core billing \
%%       [-system_domain w1@host1 w2@host2 | w1 w2] [-system_pidfile FILE] [-agent_portfile FILE] \
%%       [-agent_ip 0.0.0.0] [-agent_port 4370]
%% Writes its OS pid to the pidfile first (so whoever started it detached can stop it), starts the
%% applications and the patch agent's TCP listener (127.0.0.1 unless -agent_ip, e.g. 0.0.0.0 inside a
%% container whose port is published on the host's 127.0.0.1; port 0 unless -agent_port) and then writes
%% "Port Node\n" to the port file: its existence means the node is up. SIGTERM ends the node at once
%% (not init:stop/0, which takes seconds here): what it keeps is on disk, written atomically.
%%
%% The node logs its life through OTP's logger, the default handler on its stdout (the node's log) with
%% an RFC 3339 time, one event a header line and any continuation lines indented under it:
%%   2026-12-03T05:40:01.123456+00:00 notice: system 2.7.1 starting: role master, applications [core,billing]
%%   2026-12-03T05:40:01.456789+00:00 notice: system 2.7.1 started on 'master@127.0.0.1': ...
%%   2026-12-03T05:40:09.000001+00:00 notice: SIGTERM received - shutting down    (OTP's own words)
%%   2026-12-03T05:40:09.000123+00:00 notice: system 2.7.1 stopped
%%   2026-12-03T05:40:10.000001+00:00 error: system 2.7.1 failed to start: {badmatch,...}
%%       [{sys_boot,start,0,[...]}, ...]                                           (the stacktrace)
-module(sys_boot).
-export([start/0, arg/1, args/1]).
-export([init/1, handle_event/2, handle_call/2]).  % the SIGTERM handler of erl_signal_server (gen_event)

-define(TEMPLATE, [time, " ", level, ": ", msg, "\n"]).

start() ->
    ok = logger:update_formatter_config(default, #{template => ?TEMPLATE, single_line => false}),
    case init:get_argument(system_pidfile) of
        {ok, [[PidFile]]} -> ok = write_atomic(PidFile, [os:getpid(), $\n]);
        _ -> ok
    end,
    Root = arg(system_root),
    Vsn = version(Root),
    persistent_term:put(sys_boot_vsn, Vsn),
    ok = gen_event:swap_handler(erl_signal_server, {erl_signal_handler, []}, {?MODULE, []}),
    ok = os:set_signal(sigterm, handle),
    Role = list_to_atom(arg(system_role)),
    Apps = [list_to_atom(A) || A <- args(system_apps)],
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Domain = [list_to_atom(case lists:member($@, S) of true -> S; false -> S ++ "@" ++ Host end)
              || S <- args(system_domain)],
    persistent_term:put(patch_agent, #{root => Root, role => Role, apps => Apps, domain => Domain}),
    logger:notice("system ~s starting: role ~s, applications ~w", [Vsn, Role, Apps]),
    try
        boot(Apps)
    catch
        Class:Reason:Stack ->  % logged, flushed, then the boot fails as it always did
            logger:error("system ~s failed to start: ~p~n~p", [Vsn, Reason, Stack]),
            _ = logger_std_h:filesync(default),
            erlang:raise(Class, Reason, Stack)
    end.

boot(Apps) ->
    [{ok, _} = application:ensure_all_started(A) || A <- Apps],
    {ok, Ip} = inet:parse_address(case args(agent_ip) of [A] -> A; [] -> "127.0.0.1" end),
    ListenPort = case args(agent_port) of [P] -> list_to_integer(P); [] -> 0 end,
    {ok, Port} = patch_agent_tcp:start(Ip, ListenPort),
    persistent_term:put(patch_agent, (persistent_term:get(patch_agent))#{agent_port => Port}),
    case init:get_argument(agent_portfile) of
        {ok, [[File]]} -> ok = write_atomic(File, io_lib:format("~b ~s~n", [Port, node()]));
        _ -> ok
    end,
    logger:notice("system ~s started on ~p: applications ~w, patch agent on port ~b",
                  [persistent_term:get(sys_boot_vsn), node(), Apps, Port]),
    ok.

version(Root) ->
    case file:read_file(filename:join(Root, "VERSION")) of
        {ok, Bin} -> string:trim(binary_to_list(Bin));
        {error, _} -> "unknown"
    end.

%% erl_signal_server's handler in place of OTP's erl_signal_handler: OTP's words on SIGTERM, then the node
%% ends at once (what it keeps is on disk) instead of init:stop/0.
init(_) -> {ok, []}.

handle_event(sigterm, S) ->
    Vsn = persistent_term:get(sys_boot_vsn, "unknown"),
    logger:notice("SIGTERM received - shutting down"),
    logger:notice("system ~s stopped", [Vsn]),
    _ = logger_std_h:filesync(default),
    erlang:halt(0, [{flush, true}]),
    {ok, S};
handle_event(_Signal, S) ->
    {ok, S}.

handle_call(_Request, S) -> {ok, ok, S}.

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
