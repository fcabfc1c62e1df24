%% Product mutant (suites/otp/mutants.py, MIXED_VERSION_GOSSIP): the sample release's 1.0 whose counters tell
%% the counters of the other nodes of their system their state after each change ({peer, Node, State}) and
%% keep what they are told. 1.0 reads a peer's state only as 1.0 writes it, {state, N}: anything else is a
%% function_clause, and the counter restarts with its count lost.
-module(counter_server).
-behaviour(gen_server).
-vsn("1.0").
-export([start_link/0, incr/0, state/0, vsn/0]).
-export([init/1, handle_call/3, handle_cast/2, code_change/3]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).
incr() -> gen_server:call(?MODULE, incr).
state() -> gen_server:call(?MODULE, state).
vsn() -> "1.0".

init([]) ->
    logger:notice("counter_server ~s started", [vsn()]),
    {ok, {state, 0}}.
handle_call(incr, _From, {state, N}) -> tell({state, N + 1}), {reply, N + 1, {state, N + 1}};
handle_call(state, _From, S) -> {reply, S, S}.
handle_cast({peer, Node, {state, M}}, S) when is_integer(M) -> put({peer, Node}, M), {noreply, S};
handle_cast(Msg, S) when element(1, Msg) =/= peer -> {noreply, S}.
code_change(_OldVsn, S, _Extra) -> {ok, S}.

tell(State) -> [gen_server:cast({?MODULE, P}, {peer, node(), State}) || P <- peers()], ok.

%% The other nodes of this system: the names on this host's epmd that share this node's ENV_ prefix
%% (ENV_nodeK@ADDRESS); the process backend runs every node of an environment on one host.
peers() ->
    [Name, Host] = string:split(atom_to_list(node()), "@"),
    case {re:run(Name, "^(.*_)node[0-9]+$", [{capture, all_but_first, list}]), net_adm:names(Host)} of
        {{match, [Prefix]}, {ok, Names}} ->
            [list_to_atom(N ++ "@" ++ Host) || {N, _} <- Names, N =/= Name, lists:prefix(Prefix, N)];
        _ -> []
    end.
