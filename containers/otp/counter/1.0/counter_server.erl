%% 1.0: the state is {state, N}.
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
handle_call(incr, _From, {state, N}) -> {reply, N + 1, {state, N + 1}};
handle_call(state, _From, S) -> {reply, S, S}.
handle_cast(_Msg, S) -> {noreply, S}.
code_change(_OldVsn, S, _Extra) -> {ok, S}.
