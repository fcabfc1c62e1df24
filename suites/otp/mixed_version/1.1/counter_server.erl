%% Product mutant (suites/otp/mutants.py, MIXED_VERSION_GOSSIP): the sample release's 1.1 with 1.0's gossip,
%% in 1.1's own state format: it reads its peers' 1.0 and 1.1 states, and tells them {state, N, History}
%% from its upgrade on, which the nodes still on 1.0 cannot read (the mixed-version bug).
-module(counter_server).
-behaviour(gen_server).
-vsn("1.1").
-export([start_link/0, incr/0, state/0, vsn/0]).
-export([init/1, handle_call/3, handle_cast/2, code_change/3]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).
incr() -> gen_server:call(?MODULE, incr).
state() -> gen_server:call(?MODULE, state).
vsn() -> "1.1".

init([]) ->
    logger:notice("counter_server ~s started", [vsn()]),
    {ok, {state, 0, []}}.
handle_call(incr, _From, {state, N, H}) ->
    S = {state, N + 1, counter_util:note(H, incr)},
    tell(S),
    {reply, N + 1, S};
handle_call(state, _From, S) -> {reply, S, S}.
handle_cast({peer, Node, {state, M}}, S) -> put({peer, Node}, M), {noreply, S};
handle_cast({peer, Node, {state, M, _}}, S) -> put({peer, Node}, M), {noreply, S};
handle_cast(_Msg, S) -> {noreply, S}.

code_change("1.0", {state, N}, Extra) ->
    logger:notice("counter_server upgraded from 1.0 to ~s", [vsn()]),
    S = {state, N, [{upgraded_from, "1.0", Extra}]},
    tell(S),
    {ok, S};
code_change({down, "1.0"}, {state, N, _History}, _Extra) ->
    logger:notice("counter_server downgraded from ~s to 1.0", [vsn()]),
    {ok, {state, N}}.

tell(State) -> [gen_server:cast({?MODULE, P}, {peer, node(), State}) || P <- peers()], ok.

peers() ->
    [Name, Host] = string:split(atom_to_list(node()), "@"),
    case {re:run(Name, "^(.*_)node[0-9]+$", [{capture, all_but_first, list}]), net_adm:names(Host)} of
        {{match, [Prefix]}, {ok, Names}} ->
            [list_to_atom(N ++ "@" ++ Host) || {N, _} <- Names, N =/= Name, lists:prefix(Prefix, N)];
        _ -> []
    end.
