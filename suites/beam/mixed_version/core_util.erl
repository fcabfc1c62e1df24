%% Product mutant mixed-version-peers (suites/beam/rules-beam-patch.yaml): the shipped core_util, plus an
%% -on_load that tells the core_counter of every node of the domain which core_util code this node runs
%% now: at boot, and again on every node the moment a patch loads a new version of this module.
-module(core_util).
-export([system_version/0, greeting/0]).
-on_load(announce/0).

-ifndef(SYSTEM_VSN).
-define(SYSTEM_VSN, "0.0.0").
-endif.

system_version() -> ?SYSTEM_VSN.
greeting() -> "hello from core_util".

%% (from another process: until this on_load has returned, the version loaded before is still the current one)
announce() ->
    _ = spawn(core_counter, tell_peers_when_loaded, []),
    ok.
