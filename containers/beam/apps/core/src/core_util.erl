-module(core_util).
-export([system_version/0, greeting/0]).

-ifndef(SYSTEM_VSN).
-define(SYSTEM_VSN, "0.0.0").
-endif.

system_version() -> ?SYSTEM_VSN.
greeting() -> "hello from core_util".
