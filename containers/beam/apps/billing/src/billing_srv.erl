-module(billing_srv).
-behaviour(gen_server).
-export([start_link/0, bump/0, value/0, init/1, handle_call/3, handle_cast/2]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, 0, []).
bump() -> gen_server:call(?MODULE, bump).
value() -> gen_server:call(?MODULE, value).

init(N) -> {ok, billing_calc:total(N)}.
handle_call(bump, _From, N) -> {reply, N + 1, N + 1};
handle_call(value, _From, N) -> {reply, billing_calc:total(N), N}.
handle_cast(_Msg, N) -> {noreply, N}.
