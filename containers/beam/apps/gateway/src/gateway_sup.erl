-module(gateway_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Child = #{id => gw_legacy, start => {gw_legacy, start_link, []}, modules => [gw_legacy]},
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, [Child]}}.
