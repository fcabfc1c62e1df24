%% Example patch (examples/beam-patch.yaml): the long-lived counter, hot-loaded; pid and state stay.
%% gen_server calls its callbacks fully qualified, so a plain code:load_binary switches it to the
%% new code on its next message while the pid and the state stay.
-module(core_counter).
-behaviour(gen_server).
-export([start_link/0, bump/0, value/0, init/1, handle_call/3, handle_cast/2]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, 0, []).
bump() -> gen_server:call(?MODULE, bump).
value() -> gen_server:call(?MODULE, value).

init(N) ->
    logger:notice("core_counter started, system ~s", [core_util:system_version()]),
    {ok, N}.
handle_call(bump, _From, N) -> {reply, N + 1, N + 1};
handle_call(value, _From, N) -> {reply, N, N}.
handle_cast(_Msg, N) -> {noreply, N}.
