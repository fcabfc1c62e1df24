-module(core_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Child = #{id => core_counter, start => {core_counter, start_link, []}, modules => [core_counter]},
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, [Child]}}.
