-module(counter_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% `modules => [counter_server]` is how release_handler finds the process to suspend and code-change.
init([]) ->
    Child = #{id => counter_server, start => {counter_server, start_link, []},
              restart => permanent, shutdown => 5000, type => worker, modules => [counter_server]},
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, [Child]}}.
