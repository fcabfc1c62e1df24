-module(billing_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Child = #{id => billing_srv, start => {billing_srv, start_link, []}, modules => [billing_srv]},
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, [Child]}}.
