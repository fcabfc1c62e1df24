%% 1.1: the state is {state, N, History}; code_change converts 1.0's {state, N} and back.
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
handle_call(incr, _From, {state, N, H}) -> {reply, N + 1, {state, N + 1, counter_util:note(H, incr)}};
handle_call(state, _From, S) -> {reply, S, S}.
handle_cast(_Msg, S) -> {noreply, S}.

code_change("1.0", {state, N}, Extra) ->
    logger:notice("counter_server upgraded from 1.0 to ~s", [vsn()]),
    {ok, {state, N, [{upgraded_from, "1.0", Extra}]}};
code_change({down, "1.0"}, {state, N, _History}, _Extra) ->
    logger:notice("counter_server downgraded from ~s to 1.0", [vsn()]),
    {ok, {state, N}}.
