%% Only in 1.0: the 1.1 appup deletes it (and adds it back on the downgrade).
-module(counter_gone).
-export([hello/0]).
hello() -> gone_in_1_1.
