%% Example patch (examples/beam-patch.yaml): core_util of system 2.7.1 with a fixed greeting.
-module(core_util).
-export([system_version/0, greeting/0]).

system_version() -> "2.7.1".
greeting() -> "hello from core_util (fix-42)".
