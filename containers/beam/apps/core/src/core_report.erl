%% Installed on every node but called by nothing: a patch of it is not_loaded everywhere.
-module(core_report).
-export([summary/0]).

summary() -> {core_counter:value(), core_util:system_version()}.
