%% A hand-written receive loop that recurses with a *local* call, as old code often does.
%% After one hot load it keeps running the old code; the next load would have to purge that old
%% code and kill the process, so a careful loader refuses (status not_updated: manual reboot).
-module(gw_legacy).
-export([start_link/0, bump/0, value/0]).

start_link() ->
    Pid = spawn_link(fun() -> loop(0) end),
    register(?MODULE, Pid),
    {ok, Pid}.

bump() -> call(bump).
value() -> call(value).

call(Req) ->
    ?MODULE ! {Req, self()},
    receive {?MODULE, Reply} -> Reply after 5000 -> timeout end.

loop(N) ->
    receive
        {bump, From} -> From ! {?MODULE, N + 1}, loop(N + 1);
        {value, From} -> From ! {?MODULE, N}, loop(N)
    end.
