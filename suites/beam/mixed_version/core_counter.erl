%% Product mutant mixed-version-peers (suites/beam/rules-beam-patch.yaml): the shipped core_counter, whose
%% nodes talk: every bump tells the core_counter of every node which core_util code this node runs, and each
%% counter remembers what every node told it. The bug, in the version the nodes run before the patch: a
%% domain whose nodes report different core_util code is taken for a corrupt one and the counter crashes. A
%% rolling apply of a core_util patch makes exactly such a domain, for as long as the nodes run mixed versions.
-module(core_counter).
-behaviour(gen_server).
-export([start_link/0, bump/0, value/0, tell_peers_when_loaded/0, init/1, handle_call/3, handle_cast/2]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, 0, []).
bump() -> gen_server:call(?MODULE, bump).
value() -> gen_server:call(?MODULE, value).

%% core_util's on_load: once the new version is the current one (the one it replaced is then old code; at
%% boot there is none, so after 50 tries)
tell_peers_when_loaded() -> tell_peers_when_loaded(50).
tell_peers_when_loaded(0) -> tell_peers();
tell_peers_when_loaded(K) ->
    case erlang:check_old_code(core_util) of
        true -> tell_peers();
        false -> timer:sleep(10), tell_peers_when_loaded(K - 1)
    end.

tell_peers() ->
    Md5 = core_util:module_info(md5),
    [gen_server:cast({?MODULE, P}, {core_util_md5, node(), Md5}) || P <- [node() | nodes(connected)]],
    ok.

init(N) ->
    logger:notice("core_counter started, system ~s", [core_util:system_version()]),
    {ok, N}.
handle_call(bump, _From, N) ->
    tell_peers(),
    {reply, N + 1, N + 1};
handle_call(value, _From, N) -> {reply, N, N}.
handle_cast({core_util_md5, Node, Md5}, N) ->
    Seen = maps:put(Node, Md5, case get(peers) of undefined -> #{}; S -> S end),
    put(peers, Seen),
    [_] = lists:usort(maps:values(Seen)),  % badmatch once two nodes run different core_util code
    {noreply, N};
handle_cast(_Msg, N) -> {noreply, N}.
